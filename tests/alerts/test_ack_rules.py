"""Who may acknowledge a case, and how a removed volunteer is kept until their chat is clear (storage, no bot)."""

from __future__ import annotations

import time

import pytest

from intake.requests import Request, submit
from storage.alerts import AckResult, AlertStore, Outcome, Results
from storage.cases import CaseId
from storage.deletions import DeletionStore
from storage.server import Server
from storage.volunteers import (
    Removal,
    Settings,
    VolunteerId,
    VolunteerNotFound,
    VolunteerRemoved,
    VolunteerStore,
    hash_code,
    new_invite_code,
    normalise_code,
)

pytestmark = pytest.mark.timeout(60)
CHAT = 700000100


def _enrol(server: Server, chat_id: int, now: int, queues: tuple[str, ...] = ("main",), tier: int = 1) -> VolunteerId:
    code = normalise_code(new_invite_code()) or ""
    store = VolunteerStore(server.db)
    store.create_invite(hash_code(code, server.home.pepper()), Settings(queues, tier), "Ada Admin", now, now + 3600)
    volunteer = store.redeem(hash_code(code, server.home.pepper()), chat_id, "en", now)
    assert volunteer is not None
    return volunteer.id


def _case(server: Server, now: int, queue: str = "main") -> CaseId:
    return submit(server, Request({"help": "x"}), now, queue).case_id


def _sent(store: AlertStore, now: int, first_message_id: int = 10) -> dict[VolunteerId, int]:
    """What the sender does: every due alert is sent; returns each volunteer's Telegram message id."""
    rows = [r for r in store.due(now) if r.outcome is None]
    ids = {r.volunteer_id: first_message_id + n for n, r in enumerate(rows)}
    store.record(Results(sent=[(r.id, ids[r.volunteer_id]) for r in rows]), now)
    return ids


def _nothing_changed(server: Server, case_id: str) -> None:
    assert server.cases.events(case_id) == []
    assert "case.ack" not in [a.action for a in server.cases.audit_log()]
    assert server.db.conn.execute("SELECT acked_by, finished_at FROM case_alerts WHERE case_id = ?",
                                  (case_id,)).fetchone() == (None, None)
    assert server.db.conn.execute("SELECT count(*) FROM volunteer_messages WHERE outcome IS NOT NULL"
                                  " OR state = 'cancelled'").fetchone()[0] == 0


def test_only_an_active_volunteer_alerted_or_in_the_circle_may_acknowledge(server: Server) -> None:
    now = int(time.time())
    alerted = _enrol(server, CHAT, now)
    tier2 = _enrol(server, CHAT + 1, now, tier=2)
    other_queue = _enrol(server, CHAT + 2, now, queues=("other",))
    paused = _enrol(server, CHAT + 3, now)
    case_id = _case(server, now)
    store = AlertStore(server.db)
    store.open_case(case_id, None, [alerted, paused], 60, now)
    _sent(store, now)
    VolunteerStore(server.db).update(paused, Settings(("main",)), active=False, actor="cli", now=now)
    for stranger in (other_queue, tier2, paused, VolunteerId(999)):  # tier 2 is not reached in round 0
        assert store.acknowledge(case_id, stranger, now, everyone=False) is AckResult.REFUSED, stranger
    _nothing_changed(server, case_id)
    assert store.escalate(case_id, 1, [alerted, tier2], None, now)
    assert store.acknowledge(case_id, other_queue, now, everyone=False) is AckResult.REFUSED
    assert store.acknowledge(case_id, tier2, now, everyone=False) is AckResult.WON  # in round 1's circle
    assert [e.actor for e in server.cases.events(case_id)] == [f"volunteer:{tier2}"]
    assert store.acknowledge(case_id, other_queue, now, everyone=False) is AckResult.REFUSED  # not even "taken"
    assert store.acknowledge(case_id, alerted, now, everyone=False) is AckResult.TAKEN


def test_a_volunteer_moved_to_another_queue_after_the_alert_may_not_acknowledge(server: Server) -> None:
    now = int(time.time())
    moved = _enrol(server, CHAT, now)
    case_id = _case(server, now)
    store = AlertStore(server.db)
    store.open_case(case_id, None, [moved], 60, now)
    _sent(store, now)
    VolunteerStore(server.db).update(moved, Settings(("other",)), actor="cli", now=now)
    assert store.acknowledge(case_id, moved, now, everyone=False) is AckResult.REFUSED
    _nothing_changed(server, case_id)


def test_an_alerted_volunteer_moved_to_tier_2_still_may_acknowledge(server: Server) -> None:
    now = int(time.time())
    volunteer = _enrol(server, CHAT, now)
    _enrol(server, CHAT + 1, now)  # the queue keeps a tier 1, so round 0's circle no longer holds them
    case_id = _case(server, now)
    store = AlertStore(server.db)
    store.open_case(case_id, None, [volunteer], 60, now)
    _sent(store, now)
    VolunteerStore(server.db).update(volunteer, Settings(("main",), tier=2), actor="cli", now=now)
    assert store.acknowledge(case_id, volunteer, now, everyone=False) is AckResult.WON


def test_with_escalation_to_all_other_queues_may_acknowledge_only_from_round_1(server: Server) -> None:
    now = int(time.time())
    main = _enrol(server, CHAT, now)
    other = _enrol(server, CHAT + 1, now, queues=("other",))
    case_id = _case(server, now)
    store = AlertStore(server.db)
    store.open_case(case_id, None, [main], 60, now)
    assert store.acknowledge(case_id, other, now, everyone=True) is AckResult.REFUSED
    assert store.escalate(case_id, 1, [main, other], None, now)
    assert store.acknowledge(case_id, other, now, everyone=False) is AckResult.REFUSED  # the policy decides
    assert store.acknowledge(case_id, other, now, everyone=True) is AckResult.WON


@pytest.mark.parametrize("case_id", ["", "zzzzzzzzzzzzzzzz", "9" * 64, "' OR 1=1 --", "٣٣٣"])
def test_an_unknown_case_is_gone_and_changes_nothing(server: Server, case_id: str) -> None:
    now = int(time.time())
    volunteer = _enrol(server, CHAT, now)
    real = _case(server, now)
    store = AlertStore(server.db)
    store.open_case(real, None, [volunteer], 60, now)
    assert store.acknowledge(case_id, volunteer, now, everyone=False) is AckResult.GONE
    _nothing_changed(server, real)


def test_a_removed_volunteer_is_kept_until_their_chat_is_clear_and_their_copy_is_edited(server: Server) -> None:
    now = int(time.time())
    staying = _enrol(server, CHAT, now)
    leaving = _enrol(server, CHAT + 1, now)
    case_id = _case(server, now)
    store, volunteers, deletions = AlertStore(server.db), VolunteerStore(server.db), DeletionStore(server.db)
    store.open_case(case_id, None, [staying, leaving], 60, now)
    message_ids = _sent(store, now)
    for volunteer_id, message_id in message_ids.items():  # what the sender does after each send
        deletions.record(volunteers.get(volunteer_id).chat_id, [message_id], now + 3600)
    later = _case(server, now)
    store.open_case(later, None, [staying, leaving], 60, now)  # owed, not sent yet

    assert volunteers.remove(leaving, actor="cli", now=now) is Removal.CLEARING
    kept = volunteers.get(leaving)
    assert (kept.chat_id, kept.active, kept.removed, kept.queues, kept.label, kept.quiet) == (
        CHAT + 1, False, True, (), "", None)
    assert volunteers.by_chat(CHAT + 1) == kept  # the chat is still known as a volunteer's
    assert [v.id for v in volunteers.circle("main", 1, everyone=True)] == [staying]
    assert [r.volunteer_id for r in store.due(now)] == [staying]  # the later alert to them is cancelled
    assert store.acknowledge(case_id, leaving, now, everyone=True) is AckResult.REFUSED
    with pytest.raises(VolunteerRemoved):
        volunteers.update(leaving, Settings(("main",)), active=True, actor="cli", now=now)
    assert volunteers.remove(leaving, actor="cli", now=now) is Removal.ALREADY

    assert store.acknowledge(case_id, staying, now, everyone=False) is AckResult.WON
    edits = {r.volunteer_id: r for r in store.due(now) if r.outcome is not None}
    assert (edits[leaving].outcome, edits[leaving].message_id) == (Outcome.TAKEN, message_ids[leaving])
    assert edits[staying].outcome is Outcome.MINE
    store.record(Results(edited=[r.id for r in edits.values()]), now)

    assert volunteers.erase_removed("bot", now) == 0  # their alert is still in their chat
    deletions.remove(CHAT + 1, [message_ids[leaving]])  # the deletion timer did its work
    assert volunteers.erase_removed("bot", now) == 1
    with pytest.raises(VolunteerNotFound):
        volunteers.get(leaving)
    assert server.db.conn.execute("SELECT count(*) FROM volunteer_messages WHERE volunteer_id = ?",
                                  (leaving,)).fetchone()[0] == 0
    actions = [a.action for a in server.cases.audit_log()]
    assert actions.count("volunteer.removed") == 1 and actions.count("volunteer.erased") == 1
    assert volunteers.erase_removed("bot", now) == 0


def test_a_volunteer_with_nothing_in_their_chat_is_forgotten_at_once(server: Server) -> None:
    now = int(time.time())
    volunteer = _enrol(server, CHAT, now)
    assert VolunteerStore(server.db).remove(volunteer, actor="cli", now=now) is Removal.ERASED
    assert VolunteerStore(server.db).by_chat(CHAT) is None
    with pytest.raises(VolunteerNotFound):
        VolunteerStore(server.db).remove(volunteer, actor="cli", now=now)


def test_a_removed_volunteer_who_blocks_the_bot_stays_removed_and_their_edits_stop(server: Server) -> None:
    now = int(time.time())
    volunteer = _enrol(server, CHAT, now)
    winner = _enrol(server, CHAT + 1, now)
    case_id = _case(server, now)
    store = AlertStore(server.db)
    store.open_case(case_id, None, [volunteer, winner], 60, now)
    message_ids = _sent(store, now)
    DeletionStore(server.db).record(CHAT, [message_ids[volunteer]], now + 3600)
    assert VolunteerStore(server.db).remove(volunteer, actor="cli", now=now) is Removal.CLEARING
    assert store.acknowledge(case_id, winner, now, everyone=False) is AckResult.WON
    store.record(Results(blocked={volunteer}), now)  # the edit of their copy met a 403
    assert VolunteerStore(server.db).get(volunteer).inactive_reason == "removed"
    assert [r.volunteer_id for r in store.due(now)] == [winner]
    assert "volunteer.blocked" not in [a.action for a in server.cases.audit_log()]


def test_a_removed_volunteer_can_be_invited_again_from_the_same_chat(server: Server) -> None:
    now = int(time.time())
    volunteer = _enrol(server, CHAT, now)
    DeletionStore(server.db).record(CHAT, [1], now + 3600)  # their welcome message
    assert VolunteerStore(server.db).remove(volunteer, actor="cli", now=now) is Removal.CLEARING
    again = _enrol(server, CHAT, now, queues=("other",))
    assert again == volunteer
    back = VolunteerStore(server.db).get(again)
    assert (back.active, back.removed, back.queues) == (True, False, ("other",))
    assert VolunteerStore(server.db).erase_removed("bot", now) == 0
