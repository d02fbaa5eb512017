"""Forged "I'm on it" presses: callback data is the client's choice, so the bot checks who may acknowledge.

A modified client can send any callback data from any message of the bot's (the sandbox plays
one with `"forged": true`). A press from a volunteer of another queue, or with malformed or
unknown data, gets the same neutral answer as a stale button and changes nothing: no
acknowledgement, no case event, no audit entry, no edit of any message.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot import texts
from bot.alerting.views import ON_IT
from tests.alerts.conftest import WorldFactory
from tests.alerts.events import EventCollector
from tests.alerts.harness import TR, World, first_line, wait_for_count
from tests.bot.harness import Person, wait_until

#: What every press that changes nothing is answered with: no text, no alert, no URL.
NEUTRAL = {"text": None, "show_alert": False, "url": None}


def forge(w: World, person: Person, message_id: int, data: str) -> str:
    """Send callback data from a message that carries no such button; returns the callback query id."""
    answer = w.sandbox.client.post(f"{w.sandbox.api}/chats/{person.chat_id}/callback",
                                   json={"message_id": message_id, "data": data, "forged": True})
    answer.raise_for_status()
    return str(answer.json()["callback_query_id"])


def answers(w: World, person: Person, query_ids: list[str]) -> list[dict[str, Any]]:
    """The bot's answers to these queries, once every one is answered, in the same order."""
    def found() -> list[dict[str, Any]] | None:
        listing = w.sandbox.client.get(f"{w.sandbox.api}/chats/{person.chat_id}/messages").json()
        by_id = {a["callback_query_id"]: a for a in listing["callback_answers"]}
        if not all(q in by_id for q in query_ids):
            return None
        return [{k: by_id[q][k] for k in NEUTRAL} for q in query_ids]

    return wait_until(found, 10, what="an answer to every press")


def settle(person: Person, language: str = "en") -> None:
    """Wait until the bot has handled everything this chat sent so far (one chat's updates run in order)."""
    before = len(person.bot_messages())
    person.say("/nonsense")
    wait_until(lambda: len(person.bot_messages()) > before
               and first_line(language, texts.UNKNOWN_COMMAND) in (person.bot_messages()[-1]["text"] or ""),
               10, what="the answer to /nonsense")


def _shown(person: Person) -> list[tuple[int, str, bool]]:
    return [(m["message_id"], m["text"], m["edited"]) for m in person.bot_messages()]


def _untouched(w: World, case_id: str) -> None:
    with w.server() as server:
        assert server.cases.events(case_id) == []
        assert "case.ack" not in [a.action for a in server.cases.audit_log()]
        assert server.db.conn.execute("SELECT acked_by FROM case_alerts WHERE case_id = ?",
                                      (case_id,)).fetchone() == (None,)


def test_a_volunteer_of_another_queue_cannot_take_a_case_with_forged_data(world: WorldFactory) -> None:
    w = world()
    main, other = w.volunteer(), w.volunteer(queues=("other",))
    case_id = w.case()
    [alert] = wait_for_count(main, case_id, 1)
    other_case = w.case(queue="other")
    [own_alert] = wait_for_count(other, other_case, 1)
    welcome = other.bot_messages()[0]
    shown_main, shown_other = _shown(main), _shown(other)
    with EventCollector(w.sandbox) as events:
        # From their welcome message (the case) and from their own queue's alert.
        queries = [forge(w, other, welcome["message_id"], ON_IT + case_id),
                   forge(w, other, own_alert["message_id"], ON_IT + case_id)]
        assert answers(w, other, queries) == [NEUTRAL, NEUTRAL]
        settle(other)
        w.tick()  # the sender's turn: it finds nothing to edit
        _untouched(w, case_id)
        assert _shown(main) == shown_main
        assert _shown(other)[:len(shown_other)] == shown_other  # only the /nonsense exchange was added
        assert other.buttons(wait_for_count(other, other_case, 1)[0]) != []
        assert events.of("message_edited") == []
    # The case's own volunteer still takes it, and only their copy says so.
    main.press(ON_IT + case_id)
    mine = TR.gettext("en", texts.ALERT_TAKEN_BY_YOU).format(short_ref=case_id[:6])
    wait_until(lambda: wait_for_count(main, case_id, 1)[0]["text"] == mine, 10, what="the winner's edit")
    with w.server() as server:
        [event] = server.cases.events(case_id)
        volunteer = server.db.conn.execute("SELECT id FROM volunteers WHERE chat_id = ?", (main.chat_id,)).fetchone()[0]
        assert event.actor == f"volunteer:{volunteer}"
    assert other.bot_messages()[0] == welcome


def test_a_press_sent_from_another_message_edits_the_alert_never_that_message(world: WorldFactory) -> None:
    w = world()
    volunteer = w.volunteer()
    case_id = w.case()
    [alert] = wait_for_count(volunteer, case_id, 1)
    welcome = volunteer.bot_messages()[0]
    query = forge(w, volunteer, welcome["message_id"], ON_IT + case_id)  # the volunteer may take it, but not so
    assert answers(w, volunteer, [query]) == [NEUTRAL]
    w.tick()
    mine = TR.gettext("en", texts.ALERT_TAKEN_BY_YOU).format(short_ref=case_id[:6])
    wait_until(lambda: wait_for_count(volunteer, case_id, 1)[0]["text"] == mine, 10, what="the alert's edit")
    assert volunteer.bot_messages()[0] == welcome
    with w.server() as server:
        assert len(server.cases.events(case_id)) == 1


def test_a_stale_button_and_a_forged_press_get_the_same_answer(world: WorldFactory) -> None:
    w = world()
    first, second, other = w.volunteer(), w.volunteer(), w.volunteer(queues=("other",))
    case_id = w.case()
    [alert] = wait_for_count(second, case_id, 1)
    first.press(ON_IT + case_id)
    w.tick()
    taken = TR.gettext("en", texts.ALERT_TAKEN).format(short_ref=case_id[:6])
    wait_until(lambda: wait_for_count(second, case_id, 1)[0]["text"] == taken, 10, what="the others' edit")
    stale = forge(w, second, alert["message_id"], ON_IT + case_id)  # the button it had before the edit
    forged = forge(w, other, other.bot_messages()[0]["message_id"], ON_IT + case_id)
    assert answers(w, second, [stale]) == answers(w, other, [forged]) == [NEUTRAL]


@pytest.mark.parametrize("data", [
    ON_IT,                                  # no case id at all
    ON_IT + "9" * 62,                       # a huge number
    ON_IT + "zzzzzzzzzzzzzzzz",             # a well-formed id of no case
    ON_IT + "../" + "a" * 13,               # not a case id
    ON_IT + "٣" * 16,                       # digits, but not ASCII ones
    ON_IT + "' OR 1=1 --",                  # SQL, harmless as a parameter, refused before it gets there
    "k" + "\x00" * 10,                      # not even the prefix
])
def test_malformed_on_it_data_gets_the_neutral_answer_and_changes_nothing(world: WorldFactory, data: str,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    w = world()
    volunteer = w.volunteer()
    case_id = w.case()
    [alert] = wait_for_count(volunteer, case_id, 1)
    with EventCollector(w.sandbox) as events:
        query = forge(w, volunteer, alert["message_id"], data)
        assert answers(w, volunteer, [query]) == [NEUTRAL]
        settle(volunteer)
        w.tick()
        assert events.of("message_edited") == []
    _untouched(w, case_id)
    assert volunteer.buttons(wait_for_count(volunteer, case_id, 1)[0]) == [
        (TR.gettext("en", texts.BUTTON_ON_IT), ON_IT + case_id)]
    assert "update handling failed" not in caplog.text
    volunteer.press(ON_IT + case_id)  # the real button still works afterwards
    mine = TR.gettext("en", texts.ALERT_TAKEN_BY_YOU).format(short_ref=case_id[:6])
    wait_until(lambda: wait_for_count(volunteer, case_id, 1)[0]["text"] == mine, 10, what="the winner's edit")
