"""A removed or paused volunteer's copy of an alert is edited when the case is taken; removed ones are then forgotten.

`waystation volunteers remove` (the real console script, while the bot runs) stops alerting a
volunteer at once, but keeps their chat id until the bot has edited and deleted the alerts
still in their chat; their presses change nothing meanwhile.
"""

from __future__ import annotations

import json

from bot import texts
from bot.alerting.views import ON_IT
from storage.volunteers import Settings, VolunteerStore
from tests.alerts.conftest import WorldFactory
from tests.alerts.harness import TR, World, wait_for_count
from tests.alerts.test_forged_presses import NEUTRAL, answers, settle
from tests.bot.harness import Person, wait_until
from tests.cli.runner import ok

HOUR = 3600


def _text(person: Person, case_id: str) -> tuple[str, bool]:
    [alert] = wait_for_count(person, case_id, 1)
    return str(alert["text"]), alert["reply_markup"] is None


def _press(w: World, person: Person, case_id: str) -> str:
    [alert] = wait_for_count(person, case_id, 1)
    answer = w.sandbox.client.post(f"{w.sandbox.api}/chats/{person.chat_id}/callback",
                                   json={"message_id": alert["message_id"], "data": ON_IT + case_id})
    answer.raise_for_status()
    return str(answer.json()["callback_query_id"])


def _deletion_timers_on_the_test_clock(w: World) -> None:
    """Deletion timers run on real time in this harness: give them the test's clock, rebuild them as a start does."""
    def rebuild() -> None:
        rt, application = w.bot.rt, w.bot.application
        if rt is None or application is None or application.job_queue is None:
            raise AssertionError("the bot is not running")
        rt.vanisher.clock = w.clock
        rt.vanisher.restore(application.job_queue)  # overdue chats are deleted at once

    w.bot.call(rebuild)


def _volunteer_id(w: World, person: Person) -> int:
    with w.server() as server:
        found = VolunteerStore(server.db).by_chat(person.chat_id)
        assert found is not None
        return found.id


def test_a_removed_volunteers_alert_is_edited_when_taken_and_they_are_forgotten_once_it_is_deleted(
        world: WorldFactory) -> None:
    w = world(alerts={"delete_after_hours": 2})
    staying, leaving = w.volunteer(), w.volunteer("ru")
    case_id = w.case()
    wait_for_count(staying, case_id, 1)
    wait_for_count(leaving, case_id, 1)
    leaving_id = _volunteer_id(w, leaving)
    home = str(w.staffed.root)

    said = ok("volunteers", "remove", "--home", home, str(leaving_id)).stdout
    assert "removed; they get no more alerts" in said and "2 hours" in said
    [listed] = [v for v in json.loads(ok("volunteers", "list", "--home", home, "--json").stdout)["volunteers"]
                if v["id"] == leaving_id]
    assert (listed["removed"], listed["active"], listed["queues"]) == (True, False, [])
    assert "removed, clearing" in ok("volunteers", "list", "--home", home).stdout

    # Their press changes nothing (the same answer as a stale button), and no new case reaches them.
    query = _press(w, leaving, case_id)
    assert answers(w, leaving, [query]) == [NEUTRAL]
    settle(leaving, "ru")
    later = w.case()
    w.tick()
    wait_for_count(staying, later, 1)
    assert wait_for_count(leaving, case_id, 1) and [m for m in leaving.bot_messages() if later[:6] in m["text"]] == []
    with w.server() as server:
        assert server.cases.events(case_id) == []

    # The case is taken: both copies lose their button, the removed volunteer's too, in their language.
    staying.press(ON_IT + case_id)
    w.tick()
    taken = TR.gettext("ru", texts.ALERT_TAKEN).format(short_ref=case_id[:6])
    wait_until(lambda: _text(leaving, case_id) == (taken, True), 10, what="the removed volunteer's copy edited")
    with w.server() as server:
        assert VolunteerStore(server.db).get(leaving_id).chat_id == leaving.chat_id  # kept while messages remain

    # After the volunteer deletion time their chat is empty, and then they are forgotten.
    # (The times kept on disk, from which a start rebuilds the timers, are rounded up to the granularity.)
    with w.server() as server:
        granularity = server.config.privacy.time_granularity_seconds
    w.clock.advance(2 * HOUR + granularity + 60)
    _deletion_timers_on_the_test_clock(w)
    wait_until(lambda: leaving.messages() == [], 20, what="the removed volunteer's chat to be emptied")

    def forgotten() -> bool:
        w.tick()
        with w.server() as server:
            return VolunteerStore(server.db).by_chat(leaving.chat_id) is None

    wait_until(forgotten, 20, what="the removed volunteer to be erased")
    with w.server() as server:
        actions = [a.action for a in server.cases.audit_log()]
        assert actions.count("volunteer.removed") == 1 and actions.count("volunteer.erased") == 1
        assert server.db.conn.execute("SELECT count(*) FROM volunteer_messages WHERE volunteer_id = ?",
                                      (leaving_id,)).fetchone()[0] == 0
    assert leaving_id not in [v["id"] for v in
                              json.loads(ok("volunteers", "list", "--home", home, "--json").stdout)["volunteers"]]


def test_a_paused_volunteers_alert_is_edited_when_taken(world: WorldFactory) -> None:
    w = world()
    active, paused = w.volunteer(), w.volunteer()
    case_id = w.case()
    wait_for_count(paused, case_id, 1)
    with w.server() as server:
        VolunteerStore(server.db).update(_volunteer_id(w, paused), Settings(("main",)), active=False, actor="cli",
                                         now=w.now())
    query = _press(w, paused, case_id)
    assert answers(w, paused, [query]) == [NEUTRAL]
    settle(paused)
    with w.server() as server:
        assert server.cases.events(case_id) == []
    active.press(ON_IT + case_id)
    w.tick()
    taken = TR.gettext("en", texts.ALERT_TAKEN).format(short_ref=case_id[:6])
    wait_until(lambda: _text(paused, case_id) == (taken, True), 10, what="the paused volunteer's copy edited")
