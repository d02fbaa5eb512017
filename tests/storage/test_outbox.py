"""The reply outbox: states on the caseworkers' copy, erasure of the bot's envelope, expiry, coarse times."""

from __future__ import annotations

import time
from pathlib import Path

import nacl.utils
import pytest

from intake.requests import Request, seal_reply_handle, submit
from staff.casework import SealedReply, seal_reply
from staff.direct import StaffSession
from storage.cases import CaseId, CaseStore, Delivery, EventKind
from storage.db import Database, DatabaseKey, _statements, connect
from storage.errors import CaseNotFound, TransitionRefused
from storage.outbox import OutboxItem, OutboxStore
from storage.schema import MIGRATIONS, SCHEMA_VERSION
from storage.server import Server
from tests.alerts.pages import decrypted_pages
from tests.conftest import StaffedHome

pytestmark = pytest.mark.timeout(60)
DAY = 86_400
CHAT_ID = 555_000_111


def _case(server: Server) -> CaseId:
    bot = server.bot_identity()
    request = Request({"help": "shelter"}, "ru", "telegram", seal_reply_handle(bot, CHAT_ID))
    return submit(server, request, int(time.time())).case_id


def _sealed(server: Server, staffed: StaffedHome, case_id: CaseId, text: str = "reply text") -> SealedReply:
    now = int(time.time())
    session = StaffSession.start(server, staffed.staff["cas-main"], now)
    view = session.read(server.cases.fetch(case_id))
    assert view.request is not None
    return seal_reply(text, view.request, view.case, session.identity, server.roster(now),
                      server.bot_identity().box_private.public_key, now)


def _queue(server: Server, staffed: StaffedHome, case_id: CaseId, now: int, text: str = "reply text") -> int:
    sealed = _sealed(server, staffed, case_id, text)
    return OutboxStore(server.db).queue_reply(case_id, "cas-main", sealed.to_bot, sealed.to_person, sealed.copy, now)


def _item(server: Server, item_id: int) -> OutboxItem | None:
    return next((i for i in OutboxStore(server.db).all() if i.id == item_id), None)


def _state(server: Server, case_id: CaseId) -> list[Delivery | None]:
    return [e.delivery for e in server.cases.events(case_id) if e.kind is EventKind.REPLY]


def _actions(server: Server, case_id: CaseId) -> list[str]:
    return [a.action for a in server.cases.audit_log(case_id)]


def test_queued_reply_holds_both_envelopes_with_coarse_times(server: Server, staffed_home: StaffedHome) -> None:
    case_id = _case(server)
    now = int(time.time())
    sealed = _sealed(server, staffed_home, case_id)
    item_id = OutboxStore(server.db).queue_reply(case_id, "cas-main", sealed.to_bot, sealed.to_person, sealed.copy,
                                                  now)
    item = _item(server, item_id)
    assert item is not None
    coarse = now - now % server.config.privacy.time_granularity_seconds
    assert (item.case_id, item.created_at, item.next_attempt_at, item.notified_at) == (case_id, coarse, coarse, None)
    assert (item.delivery, item.reply, item.seq) == (sealed.to_bot, sealed.to_person, 1)
    events = [e for e in server.cases.events(case_id) if e.kind is EventKind.REPLY]
    assert [(e.envelope, e.delivery, e.created_at, e.id) for e in events] == [
        (sealed.copy, Delivery.QUEUED, coarse, item.event_id)]
    assert server.cases.fetch(case_id).updated_at == coarse
    assert _actions(server, case_id) == ["case.created", "case.reply"]
    assert [a.at for a in server.cases.audit_log(case_id)][-1] == coarse
    assert [i.id for i in OutboxStore(server.db).due(now)] == [item_id]


def test_notice_erases_the_delivery_envelope_and_records_notified(server: Server, staffed_home: StaffedHome) -> None:
    case_id = _case(server)
    now = int(time.time())
    item_id = _queue(server, staffed_home, case_id, now)
    store = OutboxStore(server.db)
    store.retry_later(item_id, now + 3, 30)  # a retry time must not survive the notice
    assert store.notified(item_id, now + 40)
    item = _item(server, item_id)
    assert item is not None and item.delivery is None
    assert item.notified_at == (now + 40) - (now + 40) % 600 and item.next_attempt_at == item.created_at
    assert item.attempts == 0
    assert store.due(now + 10 * DAY) == [] and [i.id for i in store.waiting(case_id)] == [item_id]
    assert _state(server, case_id) == [Delivery.NOTIFIED]
    assert not store.notified(item_id, now + 50)  # once only
    assert _actions(server, case_id)[-1] == "reply.notified"


def test_undeliverable_erases_the_delivery_envelope_but_keeps_the_reply(server: Server,
                                                                          staffed_home: StaffedHome) -> None:
    case_id = _case(server)
    now = int(time.time())
    item_id = _queue(server, staffed_home, case_id, now)
    assert OutboxStore(server.db).undeliverable(item_id, now)
    item = _item(server, item_id)
    assert item is not None and item.delivery is None and item.notified_at is None and item.reply
    assert _state(server, case_id) == [Delivery.UNDELIVERABLE]
    assert OutboxStore(server.db).due(now + DAY) == []


def test_read_erases_the_row(server: Server, staffed_home: StaffedHome) -> None:
    case_id = _case(server)
    now = int(time.time())
    item_id = _queue(server, staffed_home, case_id, now)
    store = OutboxStore(server.db)
    store.notified(item_id, now)
    assert store.read(item_id, now)
    assert store.all() == [] and _state(server, case_id) == [Delivery.READ]
    assert _actions(server, case_id)[-2:] == ["reply.notified", "reply.read"]
    assert not store.read(item_id, now)


def test_a_notice_finishing_after_the_person_read_does_not_undo_read(server: Server,
                                                                      staffed_home: StaffedHome) -> None:
    case_id = _case(server)
    now = int(time.time())
    item_id = _queue(server, staffed_home, case_id, now)
    store = OutboxStore(server.db)
    assert store.read(item_id, now)  # the person came with their reference before the notice went out
    assert not store.notified(item_id, now) and not store.undeliverable(item_id, now)
    assert _state(server, case_id) == [Delivery.READ]


def test_rejected_row_is_erased(server: Server, staffed_home: StaffedHome) -> None:
    case_id = _case(server)
    now = int(time.time())
    item_id = _queue(server, staffed_home, case_id, now)
    assert OutboxStore(server.db).reject(item_id, now)
    assert OutboxStore(server.db).all() == [] and _state(server, case_id) == [Delivery.REJECTED]
    assert _actions(server, case_id)[-1] == "reply.rejected"


def test_unread_replies_expire_after_their_time_and_newer_ones_stay(server: Server,
                                                                     staffed_home: StaffedHome) -> None:
    case_id = _case(server)
    now = int(time.time())
    store = OutboxStore(server.db)
    old, notified, recent = (_queue(server, staffed_home, case_id, t) for t in (now - 40 * DAY, now - 31 * DAY, now))
    store.notified(notified, now - 31 * DAY)
    assert store.expire(now, 30 * DAY) == 2
    assert [i.id for i in store.all()] == [recent]
    assert _state(server, case_id) == [Delivery.EXPIRED, Delivery.EXPIRED, Delivery.QUEUED]
    assert _actions(server, case_id).count("reply.expired") == 2
    assert store.expire(now, 30 * DAY) == 0
    assert old not in [i.id for i in store.all()]


def test_replies_of_a_case_wait_in_the_order_they_were_written(server: Server, staffed_home: StaffedHome) -> None:
    case_id = _case(server)
    now = int(time.time())
    ids = [_queue(server, staffed_home, case_id, now, f"reply {n}") for n in range(4)]
    assert [i.id for i in OutboxStore(server.db).waiting(case_id)] == ids
    assert [i.seq for i in OutboxStore(server.db).waiting(case_id)] == [1, 2, 3, 4]
    assert sorted(ids) != ids or len(set(ids)) == 4  # random ids: order lives in seq, not in the id


def test_reply_to_a_closed_or_unknown_case_stores_nothing(server: Server, staffed_home: StaffedHome) -> None:
    case_id = _case(server)
    now = int(time.time())
    sealed = _sealed(server, staffed_home, case_id)
    server.cases.close(case_id, "cas-main", now)
    store = OutboxStore(server.db)
    events = server.cases.events(case_id)
    with pytest.raises(TransitionRefused):
        store.queue_reply(case_id, "cas-main", sealed.to_bot, sealed.to_person, sealed.copy, now)
    with pytest.raises(CaseNotFound):
        store.queue_reply("zzzzzzzzzzzzzzzz", "cas-main", sealed.to_bot, sealed.to_person, sealed.copy, now)
    assert store.all() == [] and server.cases.events(case_id) == events


def test_after_the_notice_no_page_of_the_database_holds_the_delivery_envelope(server: Server,
                                                                              staffed_home: StaffedHome) -> None:
    case_id = _case(server)
    now = int(time.time())
    sealed = _sealed(server, staffed_home, case_id)
    store = OutboxStore(server.db)
    item_id = store.queue_reply(case_id, "cas-main", sealed.to_bot, sealed.to_person, sealed.copy, now)
    key = server.home.db_key({})
    db_path = server.db.path
    server.db.checkpoint()
    probe = sealed.to_bot[200:240]  # random bytes (sealed content key) found only in this envelope
    assert probe in b"".join(decrypted_pages(db_path, key))  # the search finds it while it is there
    store.notified(item_id, now)
    assert probe not in b"".join(decrypted_pages(db_path, key))
    wal = db_path.with_name(db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # the WAL was checkpointed and truncated


def test_upgrade_erases_replies_sealed_to_the_bot_and_marks_them_expired(tmp_path: Path) -> None:
    """Rows from before reply keys held text the bot's key opened: the migration erases them."""
    key = DatabaseKey(nacl.utils.random(32))
    path = tmp_path / "old.db"
    ours = next(n for n, script in enumerate(MIGRATIONS) if "ALTER TABLE outbox ADD COLUMN delivery" in script)
    conn = connect(path, key)
    for number in range(ours):
        for statement in _statements(MIGRATIONS[number]):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number + 1}")
    conn.execute("INSERT INTO cases (id, queue, status, created_at, updated_at, envelope)"
                 " VALUES ('c1', 'main', 'new', 10, 10, x'00')")
    for at in (50, 100):  # a reply delivered long ago, and one still waiting in the outbox
        conn.execute("INSERT INTO case_events (case_id, kind, actor, created_at, envelope)"
                     " VALUES ('c1', 'reply', 'cas-main', ?, x'01')", (at,))
    conn.execute("INSERT INTO outbox (case_id, created_at, next_attempt_at, envelope) VALUES ('c1', 100, 100, ?)",
                 (b"reply text sealed to the bot",))
    conn.close()
    with Database.open(path, key) as db:
        assert db.schema_version == SCHEMA_VERSION
        assert db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0
        assert [e.delivery for e in CaseStore(db).events("c1")] == [None, Delivery.EXPIRED]
