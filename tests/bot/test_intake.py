"""A person completes the intake through the sandbox; a caseworker decrypts exactly that."""

from __future__ import annotations

import time

import pytest

from bot import texts
from crypto.reference import hash_reference
from staff.direct import ReadState, StaffSession
from tests.bot.conftest import BotFactory
from tests.bot.flows import complete_intake, tr
from tests.bot.harness import Sandbox

CASES = {
    "en": {"help": "leave", "urgency": "now", "country": "Country A", "region": None,
           "contact": "this chat, evenings", "details": "english canary e7d1"},
    "ru": {"help": "legal", "urgency": "weeks", "country": "Страна Б", "region": "Город В",
           "contact": "в этом чате, утром", "details": "русская канарейка ж9"},
}
LABELS = {"leave": "Leave the country", "now": "I am in danger now", "legal": "Legal help", "weeks": "Within weeks"}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_full_intake_ends_in_one_decryptable_case(language: str, sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, bot = run_bot()
    person = sandbox.person(language)
    answers = CASES[language]
    reference = complete_intake(person, language, answers)
    assert reference is not None
    with staffed.open() as server:
        cases = server.cases.list(with_envelopes=True)
        assert len(cases) == 1
        view = StaffSession.start(server, staffed.staff["cas-main"], int(time.time())).read(cases[0])
        assert view.state is ReadState.OK and view.request is not None
        got = view.request["answers"]
        for question, typed in answers.items():
            expected = LABELS.get(typed or "", typed or "")
            assert got[question] == expected
        assert view.request["language"] == language
        assert view.request["channel"] == "telegram"
        assert server.cases.find_by_reference(hash_reference(reference, server.home.pepper())) == cases[0].id
        other = StaffSession.start(server, staffed.staff["cas-other"], int(time.time())).read(cases[0])
        assert other.state is ReadState.NOT_FOR_THIS_KEY


def test_review_can_change_an_answer(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    person = sandbox.person("en")
    complete_intake(person, "en", CASES["en"], submit=False)
    person.press("e:country")
    person.wait_for_text("Which country")
    person.say("Country Z")
    person.wait_for_text("→ Country Z")
    person.press("r")
    person.wait_for_text(tr("en", texts.SUBMITTED))
    with staffed.open() as server:
        case = server.cases.list(with_envelopes=True)[0]
        view = StaffSession.start(server, staffed.staff["cas-main"], int(time.time())).read(case)
        assert view.request is not None and view.request["answers"]["country"] == "Country Z"


def test_cancel_sends_nothing(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    person = sandbox.person("en")
    complete_intake(person, "en", CASES["en"], submit=False)
    person.say("/cancel")
    person.wait_for_text(tr("en", texts.CANCELLED))
    with staffed.open() as server:
        assert server.cases.list() == []


def test_no_caseworker_means_try_later_and_nothing_kept(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot(extra='\n[[routing]]\nqueue = "nobody"\nlanguages = ["en"]\n')
    person = sandbox.person("en")
    complete_intake(person, "en", CASES["en"], submit=False)
    person.press("r")
    person.wait_for_text(tr("en", texts.SUBMIT_FAILED))
    with staffed.open() as server:
        assert server.cases.list() == []


def test_language_button_switches_language(sandbox: Sandbox, run_bot: BotFactory) -> None:
    run_bot()
    person = sandbox.person("en")
    person.say("/start")
    person.press("l")
    person.press("l:uk")
    person.wait_for_text(tr("uk", texts.CONSENT))
    person.press("c")
    person.wait_for_text(tr("uk", texts.QUESTION_PROGRESS))


def test_follow_up_reaches_the_case_and_wrong_reference_looks_the_same(sandbox: Sandbox, run_bot: BotFactory) -> None:
    staffed, _ = run_bot()
    reference = complete_intake(sandbox.person("en"), "en", CASES["en"])
    answers = []
    for typed in (reference, "0000 000 000 000 000", "not a reference"):
        person = sandbox.person("en")
        person.say("/start")
        person.press("f")
        person.wait_for_text(tr("en", texts.FOLLOW_UP_ASK_REFERENCE))
        person.say(typed or "")
        person.wait_for_text(tr("en", texts.FOLLOW_UP_ASK_TEXT))
        person.say("follow-up canary q4")
        answers.append(person.wait_for_text(tr("en", texts.FOLLOW_UP_DONE))["text"])
    assert answers[0] == answers[1] == answers[2]
    with staffed.open() as server:
        case = server.cases.list()[0]
        events = server.cases.events(case.id)
        assert [e.kind.value for e in events] == ["follow_up"]
        from crypto.envelope import Kind, open_envelope

        opened = open_envelope(events[0].envelope or b"", recipient=staffed.staff["cas-main"].box_private,
                               trusted_signers=server.trusted_bot_keys(), case_id=case.id, queue=case.queue,
                               kinds={Kind.FOLLOW_UP})
        assert b"follow-up canary q4" in opened.payload
