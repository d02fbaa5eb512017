"""What the person sees: texts and inline keyboards for each step, in their language."""

from __future__ import annotations

from collections.abc import Mapping

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from bot import texts
from bot.form import Form, Question, QuestionKind
from bot.i18n import LANGUAGES, Translations
from bot.texts import Plural

# Callback data: short, fixed vocabulary; never anything the person typed.
CONTINUE = "c"
LANGUAGE = "l"
LANGUAGE_SET = "l:"
FORGET = "x"
ANSWER = "a:"
SKIP = "s:"
SUBMIT = "r"
EDIT = "e:"
CANCEL = "q"
RESTART = "n"
FOLLOW_UP = "f"
#: A reply notice's Show button: "read:<language>" (no row id: the reference finds the replies).
READ = "read"


class Screens:
    """Renders one person's screens in their language."""

    def __init__(self, translations: Translations, language: str, form: Form) -> None:
        self._t = translations
        self.language = language
        self.form = form

    def _(self, message: str) -> str:
        return self._t.gettext(self.language, message)

    def _button(self, message: str, data: str, **values: object) -> InlineKeyboardButton:
        return InlineKeyboardButton(self._(message).format(**values), callback_data=data)

    def consent(self, minutes: int) -> tuple[str, InlineKeyboardMarkup]:
        """The first screen: what happens to what they write."""
        keyboard = [
            [self._button(texts.BUTTON_CONTINUE, CONTINUE)],
            [self._button(texts.BUTTON_FOLLOW_UP, FOLLOW_UP)],
            [self._button(texts.BUTTON_LANGUAGE, LANGUAGE), self._button(texts.BUTTON_DELETE_NOW, FORGET)],
        ]
        return self.counted(texts.CONSENT, minutes, minutes=minutes), InlineKeyboardMarkup(keyboard)

    def consent_sealed(self, minutes: int, url: str, *, both: bool) -> tuple[str, InlineKeyboardMarkup]:
        """The first screen when the sealed form is offered: one button opens it; the chat form is the other way in."""
        keyboard = [
            [InlineKeyboardButton(self._(texts.BUTTON_OPEN_FORM), web_app=WebAppInfo(url))],
            [self._button(texts.BUTTON_CONTINUE if both else texts.BUTTON_CHAT_FORM, CONTINUE)],
            [self._button(texts.BUTTON_LANGUAGE, LANGUAGE), self._button(texts.BUTTON_DELETE_NOW, FORGET)],
        ]
        if both:
            keyboard.insert(2, [self._button(texts.BUTTON_FOLLOW_UP, FOLLOW_UP)])
        return self.counted(texts.CONSENT_SEALED, minutes, minutes=minutes), InlineKeyboardMarkup(keyboard)

    def languages(self) -> tuple[str, InlineKeyboardMarkup]:
        """The language picker: each language in its own script."""
        codes = list(LANGUAGES)
        rows = [
            [InlineKeyboardButton(LANGUAGES[c], callback_data=LANGUAGE_SET + c) for c in codes[i : i + 2]]
            for i in range(0, len(codes), 2)
        ]
        return self._(texts.CHOOSE_LANGUAGE), InlineKeyboardMarkup(rows)

    def question(self, index: int) -> tuple[str, InlineKeyboardMarkup | None]:
        """One question, with its buttons."""
        question = self.form.questions[index]
        progress = self._(texts.QUESTION_PROGRESS).format(number=index + 1, total=len(self.form.questions))
        text = f"{progress}\n\n{self._(question.prompt)}"
        rows: list[list[InlineKeyboardButton]] = []
        if question.kind is QuestionKind.CHOICE:
            rows = [[InlineKeyboardButton(self._(o.label), callback_data=f"{ANSWER}{question.id}:{o.id}")]
                    for o in question.options]
        if question.optional:
            rows.append([self._button(texts.BUTTON_SKIP, SKIP + question.id)])
        return text, InlineKeyboardMarkup(rows) if rows else None

    def answer_text(self, question: Question, answer: tuple[str | None, str]) -> str:
        """An answer as shown back to the person (choices in their language)."""
        option_id, text = answer
        if option_id is not None:
            option = question.option(option_id)
            return self._(option.label) if option else text
        return text or self._(texts.SKIPPED)

    def review(self, answers: Mapping[str, tuple[str | None, str]]) -> tuple[str, InlineKeyboardMarkup]:
        """All answers, each changeable, then send or cancel."""
        lines = [self._(texts.REVIEW), ""]
        buttons: list[InlineKeyboardButton] = []
        for number, question in enumerate(self.form.questions, 1):
            answer = answers.get(question.id, (None, ""))
            lines.append(f"{number}. {self._(question.prompt)}\n→ {self.answer_text(question, answer)}")
            buttons.append(self._button(texts.BUTTON_CHANGE, EDIT + question.id, question=number))
        rows = [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
        rows.append([self._button(texts.BUTTON_SUBMIT, SUBMIT), self._button(texts.BUTTON_CANCEL, CANCEL)])
        return "\n".join(lines), InlineKeyboardMarkup(rows)

    def text(self, message: str, **values: object) -> str:
        """Any other message."""
        return self._(message).format(**values)

    def counted(self, message: Plural, n: int, **values: object) -> str:
        """A message showing the number `n`, in the language's form for it."""
        return self._t.ngettext(self.language, message, n).format(**values)

    def delete_button(self) -> InlineKeyboardMarkup:
        """A single 'delete this chat now' button."""
        return InlineKeyboardMarkup([[self._button(texts.BUTTON_DELETE_NOW, FORGET)]])

    def restart_button(self) -> InlineKeyboardMarkup:
        """A single 'start again' button."""
        return InlineKeyboardMarkup([[self._button(texts.BUTTON_START, RESTART)]])
