"""Alerting storage without the bot: invitations, the acknowledgement race, quiet hours, config, retention."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.alerting.alerts import Alerting
from intake.requests import Request, submit
from storage.alerts import AckResult, AlertStore
from storage.config import parse_config
from storage.daytime import QuietHours, TimeOfDayInvalid
from storage.errors import ConfigInvalid
from storage.retention import DAY, run
from storage.server import Server
from storage.volunteers import (
    Settings,
    VolunteerStore,
    hash_code,
    new_invite_code,
    normalise_code,
)
from tests.conftest import StaffedHome

pytestmark = pytest.mark.timeout(60)


def _enrol(server: Server, chat_id: int, now: int, **settings: object) -> int:
    code = normalise_code(new_invite_code()) or ""
    store = VolunteerStore(server.db)
    store.create_invite(hash_code(code, server.home.pepper()), Settings(("main",), **settings),  # type: ignore[arg-type]
                        "Ada Admin", now, now + 3600)
    volunteer = store.redeem(hash_code(code, server.home.pepper()), chat_id, "en", now)
    assert volunteer is not None
    return volunteer.id


def test_an_invitation_is_kept_only_as_a_hash_and_works_once(server: Server) -> None:
    now = int(time.time())
    code = new_invite_code()
    digest = hash_code(normalise_code(code) or "", server.home.pepper())
    store = VolunteerStore(server.db)
    store.create_invite(digest, Settings(("main", "other"), tier=2), "Ada Admin", now, now + 60)
    stored = server.db.conn.execute("SELECT * FROM volunteer_invites").fetchall()
    assert code.replace("-", "").encode() not in repr(stored).encode() and code not in repr(stored)
    assert store.redeem(hash_code("X" * 12, server.home.pepper()), 1, "en", now) is None
    volunteer = store.redeem(digest, 700000001, "uk", now)
    assert volunteer is not None
    assert (volunteer.queues, volunteer.tier, volunteer.language) == (("main", "other"), 2, "uk")
    assert store.redeem(digest, 700000002, "en", now) is None


def test_an_expired_invitation_is_refused_and_forgotten(server: Server) -> None:
    now = int(time.time())
    store = VolunteerStore(server.db)
    digest = hash_code("A" * 12, server.home.pepper())
    store.create_invite(digest, Settings(("main",)), "Ada Admin", now - 120, now - 60)
    assert store.redeem(digest, 700000001, "en", now) is None
    assert store.pending_invites(now - 100) == []


def test_concurrent_acknowledgements_from_separate_connections_have_one_winner(staffed_home: StaffedHome) -> None:
    now = int(time.time())
    with staffed_home.open() as server:
        volunteers = [_enrol(server, 700000001 + n, now) for n in range(8)]
        case_id = submit(server, Request({"help": "x"}), now).case_id
        AlertStore(server.db).open_case(case_id, None, volunteers, 60, now)
    results: list[AckResult] = []
    barrier = threading.Barrier(len(volunteers))

    def press(volunteer_id: int) -> None:
        with staffed_home.open() as mine:  # each press in its own connection, as separate processes would
            barrier.wait(5)
            store = AlertStore(mine.db)
            results.append(store.acknowledge(case_id, volunteer_id, now, everyone=False))  # type: ignore[arg-type]

    threads = [threading.Thread(target=press, args=(v,)) for v in volunteers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(results) == sorted([AckResult.WON] + [AckResult.TAKEN] * (len(volunteers) - 1))
    with staffed_home.open() as server:
        assert [e.kind.value for e in server.cases.events(case_id)] == ["ack"]


def test_a_claimed_case_cannot_be_acknowledged_and_its_alerts_stop(server: Server) -> None:
    now = int(time.time())
    volunteer = _enrol(server, 700000001, now)
    case_id = submit(server, Request({"help": "x"}), now).case_id
    store = AlertStore(server.db)
    store.open_case(case_id, None, [volunteer], 60, now)  # type: ignore[list-item]
    server.cases.claim(case_id, "cas-main", now)
    assert store.due(now) == []  # not even before the check job notices
    assert store.acknowledge(case_id, volunteer, now, everyone=False) is AckResult.TAKEN  # type: ignore[arg-type]
    assert store.finish_taken(now) == [case_id]
    assert store.overdue(now + 3600) == []
    assert store.counts() == {"cancelled": 1}


def test_alert_safe_answers_are_sealed_and_erased_once_the_case_is_taken(server: Server) -> None:
    now = int(time.time())
    alerting = Alerting(server)
    sealed = alerting.seal_answers({"help": "leave", "urgency": "now"})
    assert sealed is not None and b"leave" not in sealed and b"now" not in sealed
    assert alerting.open_answers(sealed) == {"help": "leave", "urgency": "now"}
    assert alerting.is_urgent(alerting.open_answers(sealed))
    volunteer = _enrol(server, 700000001, now)
    case_id = submit(server, Request({"help": "x"}), now).case_id
    alerting.store.open_case(case_id, sealed, [volunteer], 60, now)  # type: ignore[list-item]
    assert alerting.store.acknowledge(case_id, volunteer, now, everyone=False) is AckResult.WON  # type: ignore[arg-type]
    assert server.db.conn.execute("SELECT answers FROM case_alerts").fetchone()[0] is None


def test_quiet_hours_run_past_midnight_in_the_volunteers_own_zone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    quiet = QuietHours.parse("22:00-07:00", "Europe/Berlin")
    late = datetime(2026, 1, 15, 23, 30, tzinfo=berlin).timestamp()
    assert quiet.contains(late)
    assert quiet.contains(datetime(2026, 1, 16, 6, 59, tzinfo=berlin).timestamp())
    assert not quiet.contains(datetime(2026, 1, 16, 12, 0, tzinfo=berlin).timestamp())
    assert quiet.ends_after(late) == datetime(2026, 1, 16, 7, 0, tzinfo=berlin).timestamp()
    for bad in ("22:00", "25:00-07:00", "07:00-07:00", "7-8"):
        with pytest.raises(TimeOfDayInvalid):
            QuietHours.parse(bad)
    with pytest.raises(TimeOfDayInvalid):
        QuietHours.parse("22:00-07:00", "Mars/Olympus")


@pytest.mark.parametrize(("text", "named"), [
    ("[alerts]\nescalate_to = 'everyone'\n", "alerts.escalate_to"),
    ("[alerts]\ndigest_at = '8am'\n", "alerts.digest_at"),
    ("[alerts]\ntimezone = 'Mars/Olympus'\n", "alerts.timezone"),
    ("[alerts]\nurgent = 'now'\n", "alerts.urgent"),
    ("[alerts]\nrounds = 21\n", "alerts.rounds"),
    ("[alerts]\ndelete_after_hours = 48\n", "alerts.delete_after_hours"),
    ("[alerts]\nsend_interval_ms = -1\n", "alerts.send_interval_ms"),
    ("[retention]\nrun_at = '3:00:00'\n", "retention.run_at"),
    ("[telegram]\nmax_messages_per_second = 0\n", "telegram.max_messages_per_second"),
])
def test_bad_alert_settings_are_refused_naming_the_key(text: str, named: str) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(text)
    assert named in str(caught.value)


def test_no_case_is_purged_less_than_warn_days_after_its_warning_even_after_missed_runs(server: Server) -> None:
    config = parse_config("[retention]\nclosed_case_days = 3\nwarn_days = 2\nrecent_activity_days = 1\n").retention
    t0 = int(time.time())
    case_id = submit(server, Request({"help": "x"}), t0).case_id
    server.cases.close(case_id, "cas-main", t0)
    first = run(server.db, config, t0 + 30 * DAY)  # the first run in a month: far past closed_case_days
    assert (first.warned, first.purged) == (1, ())
    assert run(server.db, config, t0 + 31 * DAY).purged == ()  # warned one day ago: not yet
    later = run(server.db, config, t0 + 32 * DAY)
    assert later.purged == (case_id,) and later.vacuumed
    assert server.db.conn.execute("PRAGMA freelist_count").fetchone()[0] == 0


@pytest.mark.parametrize("typed", ["K7QM-4XRT-9WPA", "k7qm 4xrt 9wpa", "K7QM\u00a04XRT\u20139WPA", "K7QM.4XRT/9WPA",
                                   "K7QM_4XRT\u200b9WPA", "\uff2b\uff17QM4XRT9WPA", "\u041a7Q\u041c 4\u0425RT 9WPA"])
def test_a_code_is_read_through_any_separator_width_or_keyboard_layout(typed: str) -> None:
    assert normalise_code(typed) == "K7QM4XRT9WPA"


@pytest.mark.parametrize("typed", ["K7QM-4XRT-9WP", "K7QM-4XRT-9WPA-X", "K7QM-4XRT-9WP0", "K7QM-4XRT-9WPI", ""])
def test_anything_that_cannot_be_a_code_is_refused(typed: str) -> None:
    assert normalise_code(typed) is None
