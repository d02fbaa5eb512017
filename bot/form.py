"""The declarative intake form: questions, their kinds and limits, from TOML."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.errors import FormInvalid

DEFAULT_FORM = Path(__file__).with_name("default_form.toml")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,23}$")
MAX_TEXT = 2000
MAX_OPTIONS = 8


class QuestionKind(StrEnum):
    """How a question is answered."""

    CHOICE = "choice"
    TEXT = "text"


@dataclass(frozen=True)
class Option:
    """One button of a choice question; `label` is an English message id."""

    id: str
    label: str


@dataclass(frozen=True)
class Question:
    """One question of the form."""

    id: str
    kind: QuestionKind
    prompt: str
    options: tuple[Option, ...] = ()
    max_length: int = 200
    optional: bool = False
    alert_safe: bool = False

    def option(self, option_id: str) -> Option | None:
        """The option with this id, if any."""
        return next((o for o in self.options if o.id == option_id), None)


@dataclass(frozen=True)
class Form:
    """An ordered list of questions."""

    questions: tuple[Question, ...]

    def index(self, question_id: str) -> int | None:
        """Position of a question, if it exists."""
        return next((i for i, q in enumerate(self.questions) if q.id == question_id), None)


def _question(raw: Any, number: int) -> Question:
    where = f"form question {number}"
    if not isinstance(raw, dict):
        raise FormInvalid(f"{where} must be a table")
    unknown = sorted(set(raw) - {"id", "type", "prompt", "options", "max_length", "optional", "alert_safe"})
    if unknown:
        raise FormInvalid(f"{where}: unknown key {unknown[0]}")
    qid, prompt = raw.get("id"), raw.get("prompt")
    if not isinstance(qid, str) or not _ID.fullmatch(qid):
        raise FormInvalid(f"{where}: id must be 1..24 of a-z, 0-9, '_' starting with a letter")
    if not isinstance(prompt, str) or not prompt.strip():
        raise FormInvalid(f"{where}: prompt must be text")
    try:
        kind = QuestionKind(str(raw.get("type")))
    except ValueError as err:
        raise FormInvalid(f"{where}: type must be 'choice' or 'text'") from err
    optional, alert_safe = raw.get("optional", False), raw.get("alert_safe", False)
    if not isinstance(optional, bool) or not isinstance(alert_safe, bool):
        raise FormInvalid(f"{where}: optional and alert_safe must be true or false")
    max_length = raw.get("max_length", 200)
    if not isinstance(max_length, int) or isinstance(max_length, bool) or not 1 <= max_length <= MAX_TEXT:
        raise FormInvalid(f"{where}: max_length must be 1..{MAX_TEXT}")
    options: list[Option] = []
    if kind is QuestionKind.CHOICE:
        raw_options = raw.get("options")
        if not isinstance(raw_options, list) or not 1 <= len(raw_options) <= MAX_OPTIONS:
            raise FormInvalid(f"{where}: a choice needs 1..{MAX_OPTIONS} options")
        for item in raw_options:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not _ID.fullmatch(item["id"]) \
                    or not isinstance(item.get("label"), str) or not item["label"].strip():
                raise FormInvalid(f"{where}: each option needs an id and a label")
            options.append(Option(item["id"], item["label"]))
        if len({o.id for o in options}) != len(options):
            raise FormInvalid(f"{where}: option ids must be unique")
    elif "options" in raw:
        raise FormInvalid(f"{where}: only choice questions have options")
    return Question(qid, kind, prompt, tuple(options), max_length, optional, alert_safe)


def parse_form(text: str) -> Form:
    """Parse and check a form."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise FormInvalid(f"the form is not valid TOML: {err}") from err
    items = raw.get("questions")
    if not isinstance(items, list) or not 1 <= len(items) <= 20:
        raise FormInvalid("the form needs 1..20 [[questions]]")
    questions = tuple(_question(item, n) for n, item in enumerate(items, 1))
    if len({q.id for q in questions}) != len(questions):
        raise FormInvalid("question ids must be unique")
    return Form(questions)


def load_form(home_form: Path | None = None) -> Form:
    """The server's form.toml if it exists, else the default form."""
    path = home_form if home_form is not None and home_form.exists() else DEFAULT_FORM
    try:
        return parse_form(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise FormInvalid(f"cannot read the form {path}: {err.strerror}") from err
