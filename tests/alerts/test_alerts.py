"""Alerts carry no content the person typed; "I'm on it" has exactly one winner, and every copy says so."""

from __future__ import annotations

import threading

from bot import texts
from bot.alerting.views import ON_IT
from storage.cases import EventKind
from tests.alerts.conftest import WorldFactory
from tests.alerts.harness import TR, wait_for_count
from tests.alerts.recorder import Recorder
from tests.bot.flows import complete_intake
from tests.bot.harness import wait_until

CANARY_DETAILS = "canary-details-7Qx2 my neighbour Ivan"
CANARY_COUNTRY = "canary-country-Zp9"


def test_alert_holds_the_short_reference_queue_and_translated_alert_safe_choices_only(world: WorldFactory) -> None:
    w = world()
    volunteers = {language: w.volunteer(language) for language in ("en", "ru", "fa")}
    with Recorder(w.sandbox, [v.chat_id for v in volunteers.values()]) as recorder:
        person = w.sandbox.person("en")
        reference = complete_intake(person, "en", {
            "help": "leave", "urgency": "days", "country": CANARY_COUNTRY, "region": "Region canary-rg4",
            "contact": "contact canary-ct5", "details": CANARY_DETAILS})
        with w.server() as server:
            [case] = server.cases.list()
        for language, volunteer in volunteers.items():
            [alert] = wait_for_count(volunteer, case.id, 1)
            first, labels = alert["text"].split("\n")
            assert first == TR.gettext(language, texts.ALERT).format(short_ref=case.id[:6], queue="main")
            assert labels == " · ".join(TR.gettext(language, label) for label in ("Leave the country", "Within days"))
            assert [b["callback_data"] for row in alert["reply_markup"]["inline_keyboard"] for b in row] == [
                ON_IT + case.id]
            assert alert["protect_content"] is True
    seen = recorder.everything()
    assert seen, "the recorder saw nothing"
    for secret in (CANARY_DETAILS, CANARY_COUNTRY, "canary", "Ivan", reference or "-", (reference or "-")[:4]):
        assert secret not in seen, secret


def test_simultaneous_presses_have_exactly_one_winner(world: WorldFactory) -> None:
    w = world()
    volunteers = [w.volunteer(language) for language in ("en", "en", "ru", "uk", "es", "fr")]
    case_id = w.case()
    alerts = [wait_for_count(v, case_id, 1)[0] for v in volunteers]
    start = threading.Barrier(len(volunteers))

    def press(index: int) -> None:
        start.wait(5)
        volunteers[index].sandbox.client.post(
            f"{w.sandbox.api}/chats/{volunteers[index].chat_id}/callback",
            json={"message_id": alerts[index]["message_id"], "data": ON_IT + case_id}).raise_for_status()

    threads = [threading.Thread(target=press, args=(i,)) for i in range(len(volunteers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    def final_texts() -> list[str] | None:
        latest = [wait_for_count(v, case_id, 1)[0] for v in volunteers]
        return [str(m["text"]) for m in latest] if all(m["reply_markup"] is None for m in latest) else None

    finals = wait_until(final_texts, 10, what="every alert to show its final text")
    languages = ["en", "en", "ru", "uk", "es", "fr"]
    mine = [i for i, text in enumerate(finals)
            if text == TR.gettext(languages[i], texts.ALERT_TAKEN_BY_YOU).format(short_ref=case_id[:6])]
    taken = [i for i, text in enumerate(finals)
             if text == TR.gettext(languages[i], texts.ALERT_TAKEN).format(short_ref=case_id[:6])]
    assert len(mine) == 1 and len(taken) == len(volunteers) - 1, finals
    with w.server() as server:
        acks = [e for e in server.cases.events(case_id) if e.kind is EventKind.ACK]
        assert len(acks) == 1
        assert [a.action for a in server.cases.audit_log(case_id)].count("case.ack") == 1
        winner = server.db.conn.execute("SELECT chat_id FROM volunteers v JOIN case_alerts a ON a.acked_by = v.id"
                                        " WHERE a.case_id = ?", (case_id,)).fetchone()[0]
        assert winner == volunteers[mine[0]].chat_id
        assert acks[0].actor.startswith("volunteer:")


def test_a_volunteer_of_another_queue_gets_nothing(world: WorldFactory) -> None:
    w = world()
    main, other = w.volunteer(), w.volunteer(queues=("other",))
    case_id = w.case()
    wait_for_count(main, case_id, 1)
    other_case = w.case(queue="other")
    wait_for_count(other, other_case, 1)
    assert [m for m in other.bot_messages() if case_id[:6] in (m["text"] or "")] == []
    assert [m for m in main.bot_messages() if other_case[:6] in (m["text"] or "")] == []
