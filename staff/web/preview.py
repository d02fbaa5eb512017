"""A reply as the person will see it: the bot's notice in their language, then the text exactly as sealed.

The notice's words belong to the bot (bot/texts.py, translated in bot/locale); staff/ may not
import bot/, so whoever starts the desk (waystation.commands_webdesk) hands in a `NoticeTexts`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from model.text import clean_text
from staff.casework import REPLY_MAX_CHARS


@dataclass(frozen=True)
class Notice:
    """What the bot sends first: a neutral line and a button, in the person's language."""

    language: str
    language_name: str
    text: str
    button: str


NoticeTexts = Callable[[str], Notice]


@dataclass(frozen=True)
class Preview:
    """The reply as it will arrive; `problem` says why it cannot be sent as it is."""

    notice: Notice
    text: str
    problem: str | None


def request_language(request: dict[str, Any] | None) -> str:
    """The language the person used (the bot's delivery envelope carries the same, 'en' if none)."""
    language = request.get("language") if request is not None else None
    return language if isinstance(language, str) and language else "en"


def preview(draft: str, request: dict[str, Any] | None, notice: NoticeTexts) -> Preview:
    """What staff.casework.seal_reply will seal (cleaned the same way) and the notice before it."""
    text = clean_text(draft)
    problem = None
    if not text:
        problem = "empty"
    elif len(text) > REPLY_MAX_CHARS:
        problem = "long"
    return Preview(notice(request_language(request)), text, problem)
