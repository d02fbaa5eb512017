"""Cover mode: the bot's public face is a small utility, and the intake opens only by entry code.

A phone searched at a checkpoint shows the bot in its chat list under its name; anyone who
finds its username can open it. With `[cover] enabled`, both see a working time-zone (or
unit) converter: the name, descriptions and commands are the utility's, in every language,
and every chat that has not opened the intake with `/start <code>` is answered as the
utility. A missing, wrong, used-up, expired or revoked code goes down the same path as a
right one (hash, one database transaction, one message), only the answer differs.

The gate runs before the intake conversation (bot/app.py, group 0); whether a chat is
admitted lives only in memory (`user_data`, dropped with the chat's state when the
conversation ends: bot/conversation.py `_drop`).
"""

from __future__ import annotations

import gettext
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, CallbackContext, TypeHandler

from bot import cover_texts as C
from bot.cover_utility import answer
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES, LOCALE_DIR, Translations, pick_language
from bot.runtime import STRANGER_ANSWER, Runtime
from bot.screens import FORGET, READ
from model.catalogues import compile_catalogue
from storage.config import CoverConfig
from storage.db import DatabaseError
from storage.entry import Admission, EntryStore, hash_entry_code
from storage.errors import StorageError

log = logging.getLogger("waystation.bot.cover")
Context = CallbackContext[Any, Any, Any, Any]

COVER_KEY = "waystation-cover"
#: user_data key: the chat opened the intake with a valid code (its Admission).
ENTRY = "entry"
_NAMES = {"timezone": (C.TIMEZONE_NAME, C.TIMEZONE_SHORT, C.TIMEZONE_HELP),
          "units": (C.UNITS_NAME, C.UNITS_SHORT, C.UNITS_HELP)}


def load_cover_translations(locale_dir: Path = LOCALE_DIR) -> Translations:
    """Compile the cover catalogue (domain "cover") of every shipped language."""
    catalogues: dict[str, gettext.NullTranslations] = {}
    for code in LANGUAGES:
        po = locale_dir / code / "LC_MESSAGES" / f"{C.DOMAIN}.po"
        catalogues[code] = compile_catalogue(po) if po.exists() else gettext.NullTranslations()
    return Translations(catalogues)


@dataclass(frozen=True)
class Face:
    """The bot's public face in one language."""

    name: str
    short_description: str
    description: str
    commands: tuple[tuple[str, str], ...]


class Cover:
    """The utility the bot shows, its texts, and the entry-code check."""

    def __init__(self, rt: Runtime, config: CoverConfig, translations: Translations | None = None) -> None:
        self.rt = rt
        self.config = config
        self.t = translations or load_cover_translations()

    def _(self, language: str, message: str) -> str:
        return self.t.gettext(language, message)

    def face(self, language: str) -> Face:
        """Name, descriptions and commands in one language (config overrides, else the utility's own)."""
        name, short, usage = _NAMES[self.config.utility]
        return Face(
            self.config.name or self._(language, name),
            self.config.short_description or self._(language, short),
            self.config.description or self._(language, usage),
            (("start", self._(language, C.COMMAND_START)), ("help", self._(language, C.COMMAND_HELP))),
        )

    def help(self, language: str) -> str:
        """What the utility does and how to ask it."""
        return self._(language, _NAMES[self.config.utility][2])

    def reply(self, language: str, text: str) -> str:
        """The utility's answer to a line of text, or 'not understood' and how to use it."""
        result = answer(self.config.utility, text, self.rt.clock())
        if result is not None:
            return result
        return f"{self._(language, C.NOT_UNDERSTOOD)}\n\n{self.help(language)}"

    def admit(self, payload: str) -> Admission | None:
        """Check and use an entry code; every payload (even none) costs one hash and one transaction."""
        server = self.rt.server
        try:
            return EntryStore(server.db).redeem(hash_entry_code(payload, server.pepper()), self.rt.now())
        except (StorageError, DatabaseError) as err:
            # Fail closed: the person gets the cover's answer and can try the link again.
            log.warning("an entry code could not be checked (%s); the cover answered", type(err).__name__)
            return None


def cover_of(context: Context) -> Cover:
    """The Cover installed in this application."""
    value = context.application.bot_data[COVER_KEY]
    if not isinstance(value, Cover):
        raise RuntimeError("the application was built without cover mode")
    return value


def entry_queue(context: Context) -> str | None:
    """The queue the chat's entry code routes to (None: the configured routing decides)."""
    admission = (context.user_data or {}).get(ENTRY)
    return admission.queue if isinstance(admission, Admission) else None


def _language(update: Update) -> str:
    user = update.effective_user
    return pick_language(user.language_code if user else None)


def _command(text: str) -> tuple[str, str] | None:
    """('start', 'payload') for '/start payload' or '/start@bot payload'; None for plain text."""
    if not text.startswith("/"):
        return None
    head, _, rest = text.partition(" ")
    return head[1:].partition("@")[0].lower(), rest.strip()


async def _delete_now(context: Context, chat_id: int, message_id: int) -> None:
    """Delete the /start message at once: its code must not sit in the chat (it stays on the deletion list too)."""
    try:
        await context.bot.delete_message(chat_id, message_id)
    except TelegramError:
        pass  # already gone, or Telegram refused: the chat's deletion timer tries again


async def gate(update: Update, context: Context) -> None:
    """Admitted chats pass to the intake; every other chat is answered as the utility and stops here."""
    cover = cover_of(context)
    chat = update.effective_chat
    user_data = context.user_data if context.user_data is not None else {}
    if chat is None:
        raise ApplicationHandlerStop
    language = _language(update)
    message, query = update.message, update.callback_query
    command = _command(message.text or "") if message is not None else None
    if message is not None and command is not None and command[0] == "start":
        await _delete_now(context, chat.id, message.message_id)
        # The same path for every payload: hash, one transaction, then one message.
        admission = cover.admit(command[1])
        if admission is not None:
            user_data[ENTRY] = admission
            cover.rt.count("entries")
            return  # the conversation's /start shows the consent screen
        if ENTRY in user_data:
            return  # an admitted chat restarting the form from the menu
        await context.bot.send_message(chat.id, cover.help(language), protect_content=True)
        raise ApplicationHandlerStop
    if ENTRY in user_data:
        return
    if query is not None:
        data = query.data or ""
        if data == READ or data.startswith(READ + ":"):
            user_data[ENTRY] = Admission(None)  # a reply notice's Show: the reference is asked next
            return
        if data == FORGET:
            return  # "Delete this chat now" on a message of ours: always honoured
        try:
            await query.answer()
        except TelegramError:
            pass
        raise ApplicationHandlerStop  # a button of an ended form: it opens nothing without a code
    if message is None:
        raise ApplicationHandlerStop
    if command is not None and command[0] == "forget":
        return  # /forget always deletes the chat
    if command is not None or not message.text:
        text = cover.help(language) if message.text else cover._(language, C.ONLY_TEXT)
    else:
        text = cover.reply(language, message.text)
    await context.bot.send_message(chat.id, text, protect_content=True)
    raise ApplicationHandlerStop


async def announce_face(application: Application) -> None:  # type: ignore[type-arg]
    """Set the utility's name, descriptions and commands in every language; only what differs is sent.

    Telegram limits setMyName and the descriptions to a few calls a day, so each is read
    first and set only when it changed. A refusal is logged and the bot goes on: the
    intake stays closed to anyone without a code whatever the face shows.
    """
    cover: Cover = application.bot_data[COVER_KEY]
    bot = application.bot
    changed = 0
    for code in LANGUAGES:
        face = cover.face(code)
        language = "" if code == DEFAULT_LANGUAGE else code
        try:
            if (await bot.get_my_name(language_code=language)).name != face.name:
                await bot.set_my_name(face.name, language_code=language)
                changed += 1
            if (await bot.get_my_short_description(language_code=language)).short_description != face.short_description:
                await bot.set_my_short_description(face.short_description, language_code=language)
                changed += 1
            if (await bot.get_my_description(language_code=language)).description != face.description:
                await bot.set_my_description(face.description, language_code=language)
                changed += 1
            await bot.set_my_commands([BotCommand(c, d) for c, d in face.commands], language_code=language)
        except TelegramError as err:
            log.warning("the cover's public face could not be set for one language (%s); "
                        "it is tried again at the next start", type(err).__name__)
    log.info("cover mode: the bot shows the %s utility (%d texts changed)", cover.config.utility, changed)


def install_cover(application: Application, rt: Runtime) -> None:  # type: ignore[type-arg]
    """With [cover] enabled: the gate in front of the intake (group 0, after the volunteers' handlers)."""
    config = rt.server.config.cover
    if not config.enabled:
        return
    application.bot_data[COVER_KEY] = Cover(rt, config)
    application.bot_data[STRANGER_ANSWER] = answer_as_cover
    application.add_handler(TypeHandler(Update, gate), group=0)


async def answer_as_cover(update: Update, context: Context) -> None:
    """The cover's ordinary answer, e.g. to a /volunteer with no valid invitation."""
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(chat.id, cover_of(context).help(_language(update)), protect_content=True)


async def announce_if_covered(application: Application) -> bool:  # type: ignore[type-arg]
    """At start: the cover's face when cover mode is on (True); nothing otherwise (False)."""
    if COVER_KEY not in application.bot_data:
        return False
    await announce_face(application)
    return True


async def leave_no_trace(context: Context, rt: Runtime, chat_id: int, language: str) -> None:
    """The chat's last message: how to remove it from the chat list, and that it is safe; deleted soon too."""
    text = load_texts(context).gettext(language, C.LEAVE_NO_TRACE)
    delay = rt.server.config.privacy.delete_after_submit_seconds
    # First: the hint's own send intent and entry then get this due time, not the ordinary delay.
    rt.vanisher.soon(context.job_queue, chat_id, delay)  # type: ignore[arg-type]
    try:
        await context.bot.send_message(chat_id, text, protect_content=True)  # tracked by bot/tracking.py
    except TelegramError as err:
        log.info("the chat-list hint was not delivered (%s)", type(err).__name__)


_TEXTS_KEY = "waystation-cover-texts"


def load_texts(context: Context) -> Translations:
    """The cover catalogue, compiled once per application."""
    cached = context.application.bot_data.get(_TEXTS_KEY)
    if isinstance(cached, Translations):
        return cached
    cover = context.application.bot_data.get(COVER_KEY)
    loaded = cover.t if isinstance(cover, Cover) else load_cover_translations()
    context.application.bot_data[_TEXTS_KEY] = loaded
    return loaded
