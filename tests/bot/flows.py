"""Conversation flows shared by the bot tests, in any language of the catalogues."""

from __future__ import annotations

from bot import texts
from bot.form import load_form
from bot.i18n import Translations
from bot.texts import Plural
from tests.bot.harness import Person

FORM = load_form()
T = Translations.load()


def tr(language: str, message: str | Plural) -> str:
    """A bot text as the person sees it (first line, placeholders cut off; a message with a number: plural form)."""
    return T.text(language, message, 2).split("{", 1)[0].splitlines()[0]


def complete_intake(person: Person, language: str, answers: dict[str, str | None], submit: bool = True) -> str | None:
    """Walk the form: choices pressed, text typed after its question shows, None skips. Returns the reference."""
    person.say("/start")
    person.wait_for_text(tr(language, texts.CONSENT))
    person.press("c")
    for question in FORM.questions:
        answer = answers.get(question.id)
        prompt = T.gettext(language, question.prompt)
        person.wait_for_text(prompt)
        if question.kind == "choice":
            person.press(f"a:{question.id}:{answer}")
        elif answer is None:
            person.press(f"s:{question.id}")
        else:
            person.say(answer)
    person.wait_for_text(tr(language, texts.REVIEW))
    if not submit:
        return None
    person.press("r")
    receipt = person.wait_for_text(tr(language, texts.SUBMITTED), timeout=20)
    for line in (receipt.get("text") or "").splitlines():
        if sum(ch.isdigit() for ch in line) == 16:
            return "".join(ch for ch in line if ch.isdigit())
    raise AssertionError("no 16-digit reference in the receipt")
