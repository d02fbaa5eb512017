"""The attacker itself: each attack finds a leak planted where it looks, so a clean report means something.

Fast: no bot, no sandbox; real SQLCipher files in a real home, written through
Waystation's storage where it has the operation and with raw SQL where the
leak is planted on purpose.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import time
import urllib.parse
from itertools import permutations
from pathlib import Path

import nacl.pwhash
import pytest
from nacl.public import PrivateKey
from sqlcipher3 import dbapi2 as sqlcipher

from crypto.envelope import Kind, seal
from crypto.keys import key_id
from crypto.replykey import reply_salt
from intake.requests import Request, seal_reply_handle, submit
from ops.rekey import rotate_bot_key
from storage.chatstate import ChatEntry, ChatSnapshot, ChatStateFile
from storage.db import connect
from storage.deletions import DeletionStore
from storage.home import Home
from storage.outbox import OutboxStore
from tests.conftest import StaffedHome, build_staffed_home
from tests.seizure.attacker import Report, attack, main
from tests.seizure.btree import decode_record, encode_varint, varint
from tests.seizure.carve import SqlDump
from tests.seizure.disk import read_disk
from tests.seizure.joins import (
    CaseTrace,
    ChatTrace,
    Join,
    Offsets,
    behaviour_join,
    chance_tail,
    distinct_guesses,
    every_join,
    threshold,
    time_join,
)
from tests.seizure.logs import time_cases_from_logs
from tests.seizure.needles import Needle, changed_spans
from tests.seizure.scenario import copy_home
from tests.seizure.verdict import (
    Pending,
    chat_leaks,
    content_leaks,
    event_cells,
    fine_time_leaks,
    join_leaks,
)

CANARY = "cyplanted9x2k"
CHAT = 712_345_678


def _key(staffed: StaffedHome) -> bytes:
    return bytes.fromhex((staffed.root / "secrets" / "db.key").read_text().strip())


def _raw(staffed: StaffedHome) -> sqlcipher.Connection:
    """A connection with Waystation's pragmas (WAL, secure_delete) on the home's database."""
    return connect(staffed.root / "waystation.db", _key(staffed))  # type: ignore[arg-type]


@pytest.fixture
def staffed(tmp_path: Path) -> StaffedHome:
    return build_staffed_home(tmp_path / "home")


def _seize(staffed: StaffedHome, tmp: Path) -> Path:
    target = tmp / "seized"
    copy_home(staffed.root, target)
    return target


def test_a_row_deleted_under_secure_delete_is_found_in_the_wal(staffed: StaffedHome, tmp_path: Path) -> None:
    conn = _raw(staffed)
    conn.execute("INSERT INTO meta (key, value) VALUES ('planted', ?)", (f"typed {CANARY} here",))
    conn.execute("DELETE FROM meta WHERE key = 'planted'")
    seized = _seize(staffed, tmp_path)  # while the connection is open: the WAL is there
    conn.close()
    report = attack(seized, [Needle("planted", "canary", CANARY)])
    places = [f for f in report.findings if f.label == "planted"]
    assert places and all(not f.live for f in places)
    assert any("waystation.db-wal frame" in f.where and f.tree == "meta" for f in places), report.summary()
    assert content_leaks("t", report)


def test_free_space_of_the_main_file_is_read_without_secure_delete(staffed: StaffedHome, tmp_path: Path) -> None:
    conn = _raw(staffed)
    conn.execute("PRAGMA secure_delete = OFF")
    conn.execute("INSERT INTO meta (key, value) VALUES ('planted', ?)", (CANARY * 3,))
    conn.execute("DELETE FROM meta WHERE key = 'planted'")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    seized = _seize(staffed, tmp_path)
    conn.close()
    report = attack(seized, [Needle("planted", "canary", CANARY)])
    assert report.stats["wal bytes"] == 0
    assert any("waystation.db page" in f.where and not f.live for f in report.findings), report.summary()


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "base64@1", "hex", "json-escaped", "percent-encoded"])
def test_needles_are_found_in_every_encoding(staffed: StaffedHome, tmp_path: Path, encoding: str) -> None:
    secret = "Зарема secret ок"
    forms = {
        "utf-16-le": secret.encode("utf-16-le"),
        "utf-16-be": secret.encode("utf-16-be"),
        "base64@1": base64.b64encode(b"x" + secret.encode()),
        "hex": secret.encode().hex().encode(),
        "json-escaped": json.dumps(secret).encode(),
        "percent-encoded": urllib.parse.quote(secret, safe="").encode(),
    }
    conn = _raw(staffed)
    conn.execute("CREATE TABLE planted (data BLOB)")  # a table the attacker has never heard of
    conn.execute("INSERT INTO planted (data) VALUES (?)", (forms[encoding],))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    report = attack(staffed.root, [Needle("name", "name", secret)])
    assert any(f.how.split("@")[0] == encoding.split("@")[0] for f in report.findings), report.summary()


def test_a_delivery_envelope_and_a_reply_sealed_to_the_bot_open_with_the_bot_key(staffed: StaffedHome,
                                                                                 tmp_path: Path) -> None:
    """The delivery envelope (as the bot keeps it until the notice) links its chat; a reply to the bot is read."""
    now = int(time.time())
    with staffed.open() as server:
        bot = server.bot_identity()
        receipt = submit(server, Request({"country": "x"}, "en", "telegram", seal_reply_handle(bot, CHAT)), now)
        signer = staffed.staff["cas-main"].signing_key
        delivery = json.dumps({"v": 1, "language": "en",
                               "reply_handle": base64.b64encode(seal_reply_handle(bot, CHAT)).decode()}).encode()
        to_bot = seal(delivery, kind=Kind.DELIVERY, case_id=receipt.case_id, queue="main",
                      recipients=[bot.box_private.public_key], signer=signer)
        # A careless design: the reply text sealed to the bot as well.
        careless = seal(f"reply {CANARY}".encode(), kind=Kind.REPLY, case_id=receipt.case_id, queue="main",
                        recipients=[bot.box_private.public_key], signer=signer)
        copy = seal(b"copy", kind=Kind.REPLY, case_id=receipt.case_id, queue="main",
                    recipients=[staffed.staff["cas-main"].public], signer=signer)
        OutboxStore(server.db).queue_reply(receipt.case_id, "cas-main", to_bot, careless, copy, now)
    report = attack(staffed.root, [Needle("reply", "canary", CANARY), Needle("chat", "chat", CHAT)])
    assert any(f.label == "reply" and ", opened: envelope stanza" in f.where and f.live for f in report.findings)
    assert any(f.label == "chat" and ", opened: " in f.where for f in report.findings)
    assert chat_leaks("t", report, {"chat": CHAT})
    keys = next(j for j in report.joins if j.name.startswith("keys:"))
    assert keys.guesses == {CHAT: receipt.case_id}
    in_flight = Pending(frozenset(), frozenset({CHAT}))  # the documented seconds before the notice
    assert not chat_leaks("t", report, {"chat": CHAT}, in_flight)
    assert not join_leaks("t", report, {CHAT: receipt.case_id}, [1], 1, in_flight)


def test_a_handle_sealed_to_a_retired_bot_key_opens_with_that_key(staffed: StaffedHome) -> None:
    with staffed.open() as server:
        handle = seal_reply_handle(server.bot_identity(), CHAT)
    rotate_bot_key(Home(staffed.root), int(time.time()))
    conn = _raw(staffed)
    conn.execute("CREATE TABLE planted (data BLOB)")
    conn.execute("INSERT INTO planted (data) VALUES (?)", (handle,))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    report = attack(staffed.root, [Needle("chat", "chat", CHAT)])
    assert any("previous_bot_keys" in f.where for f in report.findings), report.summary()


def test_a_chat_id_in_a_case_side_table_is_a_leak_but_one_in_the_chat_state_of_a_pending_chat_is_not(
        staffed: StaffedHome) -> None:
    with staffed.open() as server:
        DeletionStore(server.db).record(CHAT, [1, 2], 1_800_000_000)
    report = attack(staffed.root, [Needle("chat", "chat", CHAT)])
    assert report.live_chats == {CHAT}
    assert {f.tree for f in report.findings} == {"chats.state"}, report.summary()
    assert not chat_leaks("t", report, {"chat": CHAT}, Pending(frozenset({CHAT})))
    # The same file, but the chat's messages are gone (the test knows): a stale entry is a leak.
    assert chat_leaks("t", report, {"chat": CHAT}, Pending(frozenset()))
    conn = _raw(staffed)
    conn.execute("INSERT INTO request_nonces (nonce, expires_at) VALUES ('n', ?)", (CHAT,))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    leaks = chat_leaks("t", attack(staffed.root, [Needle("chat", "chat", CHAT)]), {"chat": CHAT},
                       Pending(frozenset({CHAT})))
    assert any("request_nonces" in line for line in leaks), leaks


def test_the_chat_state_is_opened_and_searched_in_binary_and_a_leftover_copy_too(staffed: StaffedHome) -> None:
    """chats.state opens with the database key; its temporary copy (a crash mid-write) is read too."""
    other = CHAT + 1
    with staffed.open() as server:
        DeletionStore(server.db).record(other, [7], 1_800_000_000)
        state = server.db.chats
        assert state is not None
        data = state.file.path.read_bytes()
        DeletionStore(server.db).record(CHAT, [1], 1_800_000_000)
    (staffed.root / ".chats.state.tmp").write_bytes(data)  # an older version, as a crash would leave it
    report = attack(staffed.root, [Needle("chat", "chat", CHAT), Needle("other", "chat", other)])
    assert report.stats["chat state files opened"] == 2 and report.chat_state["chats"] == 2
    places = {(f.label, f.where.split(" (")[0], f.how) for f in report.findings}
    assert ("chat", "file chats.state", "int64-be") in places, places
    assert ("other", "file .chats.state.tmp", "int64-be") in places, places
    # Emptied since (the test says so): the leftover copy still names it.
    assert chat_leaks("t", report, {"other": other}, Pending(frozenset({CHAT})))


def test_the_bot_log_and_every_file_of_the_home_are_searched(staffed: StaffedHome, tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_text(f"INFO something about {CHAT}\n")
    (staffed.root / "stray.txt").write_text(f"note {CANARY}\n")
    report = attack(staffed.root, [Needle("c", "canary", CANARY), Needle("chat", "chat", CHAT)], [log])
    assert {f.where for f in report.findings} >= {"log bot.log", "file stray.txt"}


def test_the_disk_reader_decrypts_every_page_and_frame_and_parses_the_shm(staffed: StaffedHome,
                                                                         tmp_path: Path) -> None:
    conn = _raw(staffed)
    for i in range(50):
        conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i}", "v" * 300))
    seized = _seize(staffed, tmp_path)
    conn.close()
    disk = read_disk(seized / "waystation.db", _key(staffed))
    wal_size = (seized / "waystation.db-wal").stat().st_size
    assert len(disk.wal) == (wal_size - 32) // (24 + disk.page_size)
    assert all(p.authentic for p in disk.images())
    assert all(p.state == "committed" for p in disk.wal)
    assert disk.shm is not None and disk.shm.max_frame == len(disk.wal)
    assert [p for p in disk.shm.frame_pages[: disk.shm.max_frame]] == [p.pgno for p in disk.wal]


def test_a_wrong_key_reads_nothing_and_says_so(staffed: StaffedHome, tmp_path: Path) -> None:
    (staffed.root / "secrets" / "db.key").write_text("00" * 32 + "\n")
    report = attack(staffed.root, [])
    assert any("no server key decrypts" in n for n in report.notes)


def test_the_command_line_exits_1_on_a_finding_and_prints_no_needle(staffed: StaffedHome, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (staffed.root / "stray.txt").write_text(f"note {CANARY}\n")
    needles = tmp_path / "needles.json"
    needles.write_text(json.dumps([{"label": "planted", "kind": "canary", "value": CANARY}]))
    assert main([str(staffed.root), "--needles", str(needles)]) == 1
    out = capsys.readouterr().out
    assert "planted" in out and CANARY not in out


# -- joins and the statistic ----------------------------------------------------------------------


def _world(exact: bool, n: int = 24, seed: int = 3) -> tuple[list[ChatTrace], list[CaseTrace], dict[int, str]]:
    """n chats that each sent one case, 7 s apart; case times exact or coarse (one window), ids random."""
    rng = random.Random(seed)
    chats, cases, truth = [], [], {}
    for i in range(n):
        case_id = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(16))
        submitted = 1_800_000_000 + 7 * i  # not a divisor of the delays: no aliasing between offsets
        chat = ChatTrace(700_000_000 + i, due={submitted + 120}, live_due=submitted + 120, message_ids=set(range(12)))
        case = CaseTrace(case_id)
        case.add_time("cases.created_at", submitted if exact else 1_799_999_400)
        case.order["cases row id"] = float(i + 1 if exact else rng.random())
        chats.append(chat)
        cases.append(case)
        truth[chat.chat_id] = case_id
    return chats, cases, truth


def test_exact_times_and_row_order_are_joins_and_coarse_random_ones_are_not() -> None:
    offsets = Offsets(600, 120)
    chats, cases, truth = _world(exact=True)
    joined = every_join(chats, cases, offsets)
    assert time_join(chats, cases, offsets, True).guesses == truth
    assert len(join_leaks("t", _report(joined), truth, [24], len(joined))) >= 2
    chats, cases, truth = _world(exact=False)
    joined = every_join(chats, cases, offsets)
    assert join_leaks("t", _report(joined), truth, [24], len(joined)) == []


def _report(joins: list[Join]) -> Report:
    report = Report("synthetic")
    report.joins = joins
    return report


def test_physical_insertion_order_joins_even_with_random_row_ids(staffed: StaffedHome) -> None:
    """Random row ids do not hide the order of inserts (a page fills from its end): exact chat times would join."""
    rng = random.Random(5)
    conn = _raw(staffed)
    truth = {}
    chats = {}
    for i in range(24):
        case_id = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(16))
        conn.execute("INSERT INTO cases (rowid, id, queue, status, created_at, updated_at, envelope)"
                     " VALUES (?, ?, 'main', 'new', 1800000000, 1800000000, ?)",
                     (rng.randrange(1, 2**62), case_id, b"\x01" * 16))
        chat = 700_000_100 + rng.randrange(0, 10**6)
        # A chat side that kept exact due times (Waystation rounds them up to the granularity).
        chats[chat] = ChatEntry(chat, 1_800_000_120 + 5 * i, (1,))
        truth[chat] = case_id
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    ChatStateFile(staffed.root / "chats.state", _key(staffed)).write(ChatSnapshot(chats, {}))
    report = attack(staffed.root, [])
    leaks = join_leaks("t", report, truth, [24], distinct_guesses(report.joins))
    assert leaks and all("cell offset" in line for line in leaks), leaks


def test_chance_tail_is_one_over_t_factorial_in_one_window() -> None:
    for t in range(1, 10):
        assert math.isclose(chance_tail(t, [24]), 1 / math.factorial(t))
    assert chance_tail(0, [5]) == 1.0
    assert chance_tail(6, [3, 2]) == 0.0  # more right than there are cases
    assert threshold([24], 1e-8) == 12


def test_chance_tail_bounds_every_guess_of_a_random_permutation() -> None:
    """Exhaustive over all 5! truths in one window and two windows, for a few fixed guesses."""
    cases = list(range(5))
    for guess in ([0, 1, 2, 3, 4], [1, 0, 3, 2, 4], [0, 0, 0, 0, 0]):
        counts = [sum(g == t for g, t in zip(guess, truth, strict=True)) for truth in permutations(cases)]
        for t in range(1, 6):
            observed = sum(c >= t for c in counts) / len(counts)
            assert observed <= chance_tail(t, [5]) + 1e-12
    split = [(a + b) for a in permutations([0, 1, 2]) for b in permutations([3, 4])]
    counts = [sum(g == t for g, t in zip([0, 1, 2, 3, 4], truth, strict=True)) for truth in split]
    for t in range(1, 6):
        assert sum(c >= t for c in counts) / len(counts) <= chance_tail(t, [3, 2]) + 1e-12


def test_records_and_varints_round_trip() -> None:
    for value in (0, 1, 127, 128, 700_000_001, 2**56, 2**63 - 1):
        assert varint(encode_varint(value), 0) == (value, len(encode_varint(value)))
    record = bytes([4, 1, 0x17, 4]) + bytes([7]) + b"abcde" + (700_000_001).to_bytes(4, "big")
    fields = decode_record(record)
    assert [f.value for f in fields] == [7, "abcde", 700_000_001]


def test_changed_spans_cover_every_difference() -> None:
    old = bytes(4096)
    new = bytearray(old)
    new[100:104] = b"abcd"
    new[4000] = 1
    spans = changed_spans(old, bytes(new), margin=10)
    assert all(any(a <= i < b for a, b in spans) for i in (100, 103, 4000))
    assert sum(b - a for a, b in spans) < 400


# -- logs, cheap tests of a reference, kinds of chats -----------------------------------------------


def test_the_logs_time_each_case_to_the_second(tmp_path: Path) -> None:
    """A line naming a case, and alert sends paired in order with the alerts' message ids, give exact times."""
    cases = [CaseTrace(f"case{i}aaaaaaaaaaaa"[:16]) for i in range(3)]
    dump = SqlDump()
    dump.rows["volunteer_messages"] = [{"volunteer_id": 1, "case_id": c.case_id, "message_id": 50 - i}
                                       for i, c in enumerate(cases)]
    log = tmp_path / "bot.log"
    log.write_text("2026-01-01 10:00:01,200 INFO waystation.bot.sending: volunteer messages: 1 sent\n"
                   "2026-01-01 10:00:07,900 INFO waystation.bot.sending: volunteer messages: 2 sent\n"
                   '{"time": "2026-01-01T10:05:00.000Z", "level": "INFO", "message": "case case1a acknowledged"}\n')
    assert time_cases_from_logs([log], cases, dump) == 3
    first = time.mktime(time.strptime("2026-01-01 10:00:01", "%Y-%m-%d %H:%M:%S"))
    sent = {c.case_id: c.times["log: its alert sent (alerts in message id order)"] for c in cases}
    assert sent == {cases[2].case_id: {int(first)}, cases[1].case_id: {int(first) + 6},
                    cases[0].case_id: {int(first) + 6}}  # message ids 48, 49, 50
    assert cases[1].times["log: a line naming the case"] == {1767261900}


def test_a_cheap_test_of_a_reference_on_disk_is_found(staffed: StaffedHome) -> None:
    """A fast hash of the digits, or a reply key's id derived at the minimum cost, would make references guessable."""
    reference = "1234 567 890 123 456"
    digits = reference.replace(" ", "").encode()
    now = int(time.time())
    with staffed.open() as server:
        receipt = submit(server, Request({"country": "x"}, "en", "telegram", None), now)
    seed = nacl.pwhash.argon2id.kdf(32, digits, reply_salt(receipt.case_id), nacl.pwhash.argon2id.OPSLIMIT_MIN,
                                    nacl.pwhash.argon2id.MEMLIMIT_MIN)
    conn = _raw(staffed)
    conn.execute("CREATE TABLE planted (a BLOB, b TEXT)")
    conn.execute("INSERT INTO planted VALUES (?, ?)",
                 (key_id(PrivateKey(seed).public_key), hashlib.sha256(digits).hexdigest()))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    report = attack(staffed.root, [Needle("P.reference", "reference", reference)])
    found = {f.label for f in report.findings}
    assert "P.reference as sha256" in found, found
    assert "P.reference: reply key at the minimum cost for a case, its key id" in found, found
    assert content_leaks("t", report)


def test_the_behaviour_join_is_held_to_chance_within_bucket_and_kind_of_event() -> None:
    """Knowing which chats got a notice and which cases had a reply is admitted; more right than that is not."""
    chats, cases, truth = _world(exact=False)
    for i, (chat, case) in enumerate(zip(chats, cases, strict=True)):
        chat.message_ids = set(range(1, 12 if i < 12 else 11))  # 12 went on after their form (11 ids)
        case.facts = {"status claimed", *(["reply notified"] if i < 12 else [])}
    report = _report([behaviour_join(chats, cases, frozenset({6, 8, 10}))])
    report.cases = cases
    cells = event_cells(report, truth, {})
    assert cells == [12, 12]
    guesses = report.joins[0].guesses
    assert all(("reply notified" in next(c for c in cases if c.case_id == guesses[chat.chat_id]).facts) == (i < 12)
               for i, chat in enumerate(chats)), "every chat placed within its kind"
    assert join_leaks("t", report, truth, [24], 1, cells=cells) == []
    report.joins = [Join("behaviour: all right", dict(truth))]
    assert join_leaks("t", report, truth, [24], 1, cells=cells)


def test_a_case_side_time_finer_than_the_granularity_is_found_live_or_remnant(staffed: StaffedHome) -> None:
    now = int(time.time())
    with staffed.open() as server:
        receipt = submit(server, Request({"country": "x"}, "en", "telegram", None), now)
        assert not fine_time_leaks("t", attack(staffed.root, [])), "a fresh case keeps coarse times"
    conn = _raw(staffed)
    conn.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (1_800_000_007, receipt.case_id))
    conn.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (1_800_000_200, receipt.case_id))
    seized = _seize(staffed, Path(staffed.root).parent)  # the WAL holds the first update's page
    conn.close()
    leaks = fine_time_leaks("t", attack(seized, []))
    assert any("cases.updated_at" in line for line in leaks), leaks
