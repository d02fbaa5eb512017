"""Entry codes on disk: keyed hashes only, random ids, coarse times; every bad code opens nothing."""

from __future__ import annotations

import time

import pytest

from storage.entry import DAY, EntryNotFound, EntrySettingsInvalid, EntryStore, hash_entry_code, new_entry_code
from storage.server import Server


def _mint(server: Server, *, uses: int = 1, days: int = 1, queue: str | None = None, now: int | None = None) -> str:
    code = new_entry_code()
    EntryStore(server.db).create(hash_entry_code(code, server.pepper()), queue=queue, uses=uses, valid_days=days,
                                 created_by="Ada Admin", now=int(time.time()) if now is None else now)
    return code


def test_a_code_opens_the_intake_as_often_as_it_may_then_never(server: Server) -> None:
    store, t = EntryStore(server.db), int(time.time())
    code = _mint(server, uses=2, queue="other")
    first = store.redeem(hash_entry_code(code, server.pepper()), t)
    assert first is not None and first.queue == "other"
    assert store.redeem(hash_entry_code(code, server.pepper()), t) is not None
    assert store.redeem(hash_entry_code(code, server.pepper()), t) is None  # used up
    assert store.list(t) == []


def test_wrong_missing_expired_and_revoked_codes_open_nothing(server: Server) -> None:
    store, t = EntryStore(server.db), int(time.time())
    right = _mint(server)
    assert store.redeem(hash_entry_code(right[:-1] + ("A" if right[-1] != "A" else "B"), server.pepper()), t) is None
    assert store.redeem(hash_entry_code("", server.pepper()), t) is None
    assert store.redeem(hash_entry_code("x" * 5000, server.pepper()), t) is None
    expired = _mint(server, days=1, now=t - 3 * DAY)
    assert store.redeem(hash_entry_code(expired, server.pepper()), t) is None
    revoked = _mint(server, uses=5)
    [listed] = [e for e in store.list(t) if e.uses_left == 5]
    store.revoke(listed.id, actor="cli", now=t)
    assert store.redeem(hash_entry_code(revoked, server.pepper()), t) is None
    with pytest.raises(EntryNotFound):
        store.revoke(listed.id, actor="cli", now=t)
    assert store.redeem(hash_entry_code(right, server.pepper()), t) is not None  # the right one still works


def test_a_code_is_case_insensitive_but_not_a_prefix(server: Server) -> None:
    store, t = EntryStore(server.db), int(time.time())
    code = _mint(server, uses=3)
    assert store.redeem(hash_entry_code(code.lower(), server.pepper()), t) is not None
    assert store.redeem(hash_entry_code(code[:8], server.pepper()), t) is None


def test_only_keyed_hashes_coarse_times_and_random_ids_are_stored(server: Server) -> None:
    t = int(time.time())
    codes = [_mint(server, uses=3) for _ in range(3)]
    rows = server.db.conn.execute("SELECT id, code_hash, created_at, expires_at FROM entry_codes").fetchall()
    raw = b"".join(bytes(r[1]) for r in rows)
    for code in codes:
        assert code.encode() not in raw and hash_entry_code(code, b"\0" * 32) not in raw  # keyed: pepper needed
    granularity = server.db.granularity
    assert all(r[2] % granularity == 0 and r[3] % granularity == 0 and r[2] <= t for r in rows)
    assert len({r[0] for r in rows}) == 3 and max(r[0] for r in rows) > 10**6  # not 1, 2, 3


@pytest.mark.parametrize(("uses", "days", "queue"), [(0, 1, None), (1, 0, None), (1, 1, "Bad Queue"), (10**6, 1, None)])
def test_bad_settings_are_refused(server: Server, uses: int, days: int, queue: str | None) -> None:
    with pytest.raises(EntrySettingsInvalid):
        EntryStore(server.db).create(b"h" * 32, queue=queue, uses=uses, valid_days=days, created_by="a",
                                     now=int(time.time()))


def test_revoke_all_withdraws_every_code(server: Server) -> None:
    t = int(time.time())
    codes = [_mint(server) for _ in range(3)]
    assert EntryStore(server.db).revoke_all(actor="cli", now=t) == 3
    assert all(EntryStore(server.db).redeem(hash_entry_code(c, server.pepper()), t) is None for c in codes)
