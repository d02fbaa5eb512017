"""`/volunteer CODE`: the right code works once; a used, expired or wrong one looks like any unknown command."""

from __future__ import annotations

from bot import texts
from storage.volunteers import VolunteerStore
from tests.alerts.conftest import WorldFactory
from tests.alerts.harness import first_line
from tests.bot.harness import Person, wait_until


def _answer_to(person: Person, text: str) -> str:
    """Send a command and return the text of the bot's answer to it."""
    before = len(person.bot_messages())
    person.say(text)
    wait_until(lambda: len(person.bot_messages()) > before, what=f"an answer to {text.split()[0]}")
    return str(person.bot_messages()[-1]["text"])


def test_right_code_enrols_the_chat_once_with_its_queues(world: WorldFactory) -> None:
    w = world()
    code = w.invite(queues=("main", "other"), tier=2)
    volunteer = w.sandbox.person("ru")
    welcome = _answer_to(volunteer, f"/volunteer {code}")
    assert welcome.startswith(first_line("ru", texts.VOLUNTEER_WELCOME))
    assert "main, other" in welcome
    with w.server() as server:
        [enrolled] = VolunteerStore(server.db).list()
        assert (enrolled.chat_id, enrolled.queues, enrolled.tier, enrolled.language, enrolled.active) == (
            volunteer.chat_id, ("main", "other"), 2, "ru", True)
        assert "volunteer.enrolled" in [a.action for a in server.cases.audit_log()]
    # the same code again, from another chat: used up
    other = w.sandbox.person("en")
    unknown = _answer_to(other, "/nonsense")
    assert unknown == w.bot.rt.translations.gettext("en", texts.UNKNOWN_COMMAND)  # type: ignore[union-attr]
    assert _answer_to(other, f"/volunteer {code}") == unknown
    with w.server() as server:
        assert len(VolunteerStore(server.db).list()) == 1


def test_used_expired_wrong_and_missing_codes_get_the_unknown_command_answer(world: WorldFactory) -> None:
    w = world()
    expired = w.invite(valid_seconds=60)
    used = w.invite()
    first = w.sandbox.person("fr")
    _answer_to(first, f"/volunteer {used}")
    w.clock.advance(61)
    person = w.sandbox.person("fr")
    unknown = _answer_to(person, "/nonsense")
    assert unknown == w.bot.rt.translations.gettext("fr", texts.UNKNOWN_COMMAND)  # type: ignore[union-attr]
    for attempt in (f"/volunteer {used}", f"/volunteer {expired}", "/volunteer ABCD-EFGH-JKLM",
                    "/volunteer", f"/volunteer {used} extra", "/volunteer not-a-code"):
        assert _answer_to(person, attempt) == unknown, attempt
    with w.server() as server:
        assert [v.chat_id for v in VolunteerStore(server.db).list()] == [first.chat_id]
        # an expired code is gone from the database once anyone tries any code
        assert VolunteerStore(server.db).pending_invites(w.now()) == []


def test_code_is_accepted_in_lower_case_and_without_dashes(world: WorldFactory) -> None:
    w = world()
    code = w.invite()
    person = w.sandbox.person("en")
    person.say("/volunteer " + code.replace("-", "").lower())
    person.wait_for_text(first_line("en", texts.VOLUNTEER_WELCOME))


def test_code_is_accepted_with_spaces_or_other_separators_between_its_groups(world: WorldFactory) -> None:
    w = world()
    for spelled in ("{a} {b} {c}", "{a}.{b}.{c}", "{a}\u2013{b}\u00a0{c}", "{a}  {b}-{c}"):
        code = w.invite()
        a, b, c = code.split("-")
        person = w.sandbox.person("en")
        welcome = _answer_to(person, "/volunteer " + spelled.format(a=a, b=b, c=c.lower()))
        assert welcome.startswith(first_line("en", texts.VOLUNTEER_WELCOME)), spelled
    with w.server() as server:
        assert len(VolunteerStore(server.db).list()) == 4
