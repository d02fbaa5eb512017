"""The intake conversation: consent, questions, review, submit; plus reading replies and follow-ups by reference.

One async function per step, each returning the next state; the whole
conversation is the table in `build_conversation`. Answers live only in
`context.chat_data` (memory) and are dropped when the conversation ends.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import InlineKeyboardMarkup, MenuButtonWebApp, Message, Update, WebAppInfo
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import screens as S
from bot import texts
from bot.cover import entry_queue, leave_no_trace
from bot.form import QuestionKind
from bot.i18n import pick_language
from bot.replies import read_by_reference, send_replies
from bot.runtime import BotContext, Runtime
from bot.webform.address import form_url
from intake.followups import add_follow_up
from intake.requests import Request, check_answers, seal_reply_handle, submit_off_loop
from intake.routing import route
from model.text import clean_text
from storage.errors import IntakeRefused, StorageError

log = logging.getLogger("waystation.bot.intake")
Context = BotContext

CONSENT, QUESTION, REVIEW, FOLLOW_UP_REFERENCE, FOLLOW_UP_TEXT = range(5)
END = ConversationHandler.END

# chat_data keys
LANG, ANSWERS, STEP, EDITING, REF_HASH = "lang", "answers", "step", "editing", "ref_hash"


# -- helpers -------------------------------------------------------------------------------------

def _chat_id(update: Update) -> int:
    chat = update.effective_chat
    if chat is None:
        raise RuntimeError("update without chat reached the conversation")
    return chat.id


def _data(context: Context) -> dict[str, Any]:
    if context.chat_data is None:
        raise RuntimeError("chat_data is unavailable")
    return context.chat_data


def _screens(update: Update, context: Context) -> S.Screens:
    data = _data(context)
    if LANG not in data:
        user = update.effective_user
        data[LANG] = pick_language(user.language_code if user else None)
    rt = context.runtime
    return S.Screens(rt.translations, data[LANG], rt.form)


async def send(update: Update, context: Context, text: str, markup: InlineKeyboardMarkup | None = None) -> Message:
    """Send a message to this chat (the bot puts it on the chat's deletion list: bot/tracking.py)."""
    return await context.bot.send_message(_chat_id(update), text, reply_markup=markup, protect_content=True)


async def show(update: Update, context: Context, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Replace the message whose button was pressed, or send a new one after typed text."""
    query = update.callback_query
    if query is not None and isinstance(query.message, Message):
        try:
            await query.edit_message_text(text, reply_markup=markup)
            return
        except TelegramError:
            # Gone, unchanged, too old to edit, or the edit failed on the way (network, server):
            # any failure falls through to a fresh message, so nobody is left on a dead screen.
            pass
    await send(update, context, text, markup)


async def acknowledge(update: Update) -> None:
    """Answer a pressed button (its spinner stops); one already answered or too old is no error."""
    query = update.callback_query
    if query is None:
        return
    try:
        await query.answer()
    except TelegramError:
        pass  # answered before (e.g. by the error handler) or expired: the next screen still comes


async def _ack(update: Update) -> None:
    await acknowledge(update)


def _minutes(rt: Runtime, seconds: int) -> int:
    return max(1, round(seconds / 60))


def _drop(context: Context, update: Update) -> None:
    """Forget everything about this chat that lives in memory."""
    data = context.chat_data
    if data is not None:
        data.clear()
    chat = update.effective_chat
    if chat is not None:
        context.application.drop_chat_data(chat.id)  # not the flood gate's count: /forget must not reset it
        context.application.drop_user_data(chat.id)  # a private chat's user: its entry code admission ends too


async def withdraw_menu_button(bot: Any, chat_id: int, intake_sealed: bool) -> None:
    """Back to Telegram's default menu button: a wiped chat shows no "Open the form" either."""
    if not intake_sealed:
        return
    try:
        await bot.set_chat_menu_button(chat_id=chat_id)
    except TelegramError as err:
        log.info("the chat's menu button was not reset (%s)", type(err).__name__)


# -- steps ---------------------------------------------------------------------------------------

async def start(update: Update, context: Context) -> int:
    """/start, any first text, or 'start again': the consent screen."""
    await _ack(update)
    language = _data(context).get(LANG)
    _data(context).clear()
    if language:
        _data(context)[LANG] = language
    await send(update, context, *_consent(update, context))
    await offer_menu_button(update, context)
    return CONSENT


def _consent(update: Update, context: Context) -> tuple[str, InlineKeyboardMarkup]:
    """The consent screen: with the sealed form's button when it is offered ([intake] in config.toml)."""
    rt = context.runtime
    minutes = _minutes(rt, rt.vanisher.delete_after)
    screens = _screens(update, context)
    intake = rt.server.config.intake
    if not intake.sealed():
        return screens.consent(minutes)
    return screens.consent_sealed(minutes, form_url(intake.public_url, screens.language), both=intake.mode == "both")


async def offer_menu_button(update: Update, context: Context) -> None:
    """The chat's menu button opens the sealed form too (Telegram keeps it beside the text field)."""
    rt = context.runtime
    intake = rt.server.config.intake
    if not intake.sealed():
        return
    language = _data(context).get(LANG, "en")
    button = MenuButtonWebApp(rt.translations.gettext(language, texts.BUTTON_OPEN_FORM),
                              WebAppInfo(form_url(intake.public_url, language)))
    try:
        await context.bot.set_chat_menu_button(_chat_id(update), button)
    except TelegramError as err:
        log.info("the chat's menu button was not set (%s); the form's button is in the message", type(err).__name__)


async def consent_button(update: Update, context: Context) -> int:
    """Continue, language, or follow-up from the consent screen."""
    await _ack(update)
    choice = update.callback_query.data if update.callback_query else ""
    data = _data(context)
    if choice == S.LANGUAGE:
        await show(update, context, *_screens(update, context).languages())
        return CONSENT
    if choice and choice.startswith(S.LANGUAGE_SET):
        data[LANG] = pick_language(choice[len(S.LANGUAGE_SET):])
        await show(update, context, *_consent(update, context))
        await offer_menu_button(update, context)
        return CONSENT
    if choice == S.FOLLOW_UP:
        await show(update, context, _screens(update, context).text(texts.FOLLOW_UP_ASK_REFERENCE))
        return FOLLOW_UP_REFERENCE
    data[ANSWERS], data[STEP], data[EDITING] = {}, 0, False
    await show(update, context, *_screens(update, context).question(0))
    return QUESTION


async def _advance(update: Update, context: Context) -> int:
    data = _data(context)
    form = context.runtime.form
    if not data.get(EDITING) and data[STEP] + 1 < len(form.questions):
        data[STEP] += 1
        await show(update, context, *_screens(update, context).question(data[STEP]))
        return QUESTION
    data[EDITING] = False
    await show(update, context, *_screens(update, context).review(data[ANSWERS]))
    return REVIEW


def _current(context: Context) -> Any:
    return context.runtime.form.questions[_data(context)[STEP]]


async def choice_button(update: Update, context: Context) -> int:
    """A choice answer; a button of another question is ignored."""
    await _ack(update)
    # Callback data comes from the person's client and can be anything: parsed, never trusted.
    data = update.callback_query.data if update.callback_query is not None else None
    question_id, sep, option_id = (data or "").removeprefix(S.ANSWER).partition(":")
    question = _current(context)
    if not sep or question.id != question_id or question.option(option_id) is None:
        return QUESTION
    _data(context)[ANSWERS][question.id] = (option_id, question.option(option_id).label)
    return await _advance(update, context)


async def skip_button(update: Update, context: Context) -> int:
    """Skip an optional question."""
    await _ack(update)
    question = _current(context)
    if not question.optional or (update.callback_query.data or "") != S.SKIP + question.id:  # type: ignore[union-attr]
        return QUESTION
    _data(context)[ANSWERS][question.id] = (None, "")
    return await _advance(update, context)


async def text_answer(update: Update, context: Context) -> int:
    """A typed answer: control characters stripped, length capped."""
    question = _current(context)
    screens = _screens(update, context)
    if question.kind is not QuestionKind.TEXT:
        await send(update, context, screens.text(texts.USE_BUTTONS))
        return QUESTION
    raw = (update.effective_message.text if update.effective_message else "") or ""
    if len(raw) > question.max_length:
        await send(update, context, screens.text(texts.ANSWER_TOO_LONG, limit=question.max_length))
        return QUESTION
    clean = clean_text(raw)
    if not clean:
        await send(update, context, screens.text(texts.ANSWER_EMPTY))
        return QUESTION
    _data(context)[ANSWERS][question.id] = (None, clean)
    return await _advance(update, context)


async def review_button(update: Update, context: Context) -> int:
    """Send, cancel, or change one answer."""
    await _ack(update)
    choice = update.callback_query.data or "" if update.callback_query else ""
    if choice == S.SUBMIT:
        return await submit(update, context)
    if choice == S.CANCEL:
        return await cancel(update, context)
    index = context.runtime.form.index(choice[len(S.EDIT):]) if choice.startswith(S.EDIT) else None
    if index is None:
        return REVIEW
    data = _data(context)
    data[STEP], data[EDITING] = index, True
    await show(update, context, *_screens(update, context).question(index))
    return QUESTION


async def submit(update: Update, context: Context) -> int:
    """Seal the request to the queue's caseworkers, enqueue it, give the person their reference."""
    rt = context.runtime
    data = _data(context)
    screens = _screens(update, context)
    chat_id = _chat_id(update)
    answers: dict[str, tuple[str | None, str]] = data.get(ANSWERS, {})
    plain = {q.id: answers.get(q.id, (None, ""))[1] for q in rt.form.questions}
    choices = {qid: option for qid, (option, _) in answers.items() if option is not None}
    language = data.get(LANG, "en")
    queue = entry_queue(context) or route(rt.server.config.routing, rt.server.config.queues.default, language=language,
                  country=plain.get("country", ""), help_option=choices.get("help", ""))
    now = rt.now()
    try:
        typed_in: dict[object, object] = {key: value for key, value in plain.items()}
        request = Request(check_answers(typed_in), language, "telegram",
                          seal_reply_handle(rt.server.bot_identity(), chat_id))
        ready = rt.references.take() if rt.references is not None else None
        # The one intake path (intake.requests), its sealing off the event loop.
        receipt = await submit_off_loop(rt.server, request, now, queue, ticket=ready, pepper=rt.secrets.pepper())
    except (IntakeRefused, StorageError) as err:
        log.warning("a request could not be stored (%s); the person was asked to try later", type(err).__name__)
        rt.count("intakes_refused")
        await show(update, context, screens.text(texts.SUBMIT_FAILED))
        return _finish(update, context, rt.server.config.privacy.delete_after_submit_seconds)
    rt.count("intakes")
    delay = rt.server.config.privacy.delete_after_submit_seconds
    minutes = _minutes(rt, delay)
    await show(update, context, screens.counted(texts.SUBMITTED, minutes, reference=receipt.reference, minutes=minutes),
               screens.delete_button())
    # Option ids, never labels or typed text: the listener keeps only the alert-safe choices.
    for listener in rt.case_listeners:
        listener(context, receipt.case_id, receipt.queue, choices)
    return _finish(update, context, delay)


def _finish(update: Update, context: Context, delay: int) -> int:
    rt = context.runtime
    rt.vanisher.soon(context.job_queue, _chat_id(update), delay)  # type: ignore[arg-type]
    context.application.create_task(leave_no_trace(context, rt, _chat_id(update), _data(context).get(LANG, "en")))
    _drop(context, update)
    return END


async def cancel(update: Update, context: Context) -> int:
    """/cancel or the Cancel button: nothing is sent, the chat goes soon."""
    await _ack(update)
    rt = context.runtime
    delay = rt.server.config.privacy.delete_after_submit_seconds
    minutes = _minutes(rt, delay)
    await send(update, context, _screens(update, context).counted(texts.CANCELLED, minutes, minutes=minutes))
    return _finish(update, context, delay)


async def forget(update: Update, context: Context) -> int:
    """/forget or 'Delete this chat now': every message goes at once, all state is dropped."""
    await _ack(update)
    rt = context.runtime
    user = update.effective_user
    language = _data(context).get(LANG) or pick_language(user.language_code if user else None)
    await rt.vanisher.now(context.bot, context.job_queue, _chat_id(update))  # type: ignore[arg-type]
    await withdraw_menu_button(context.bot, _chat_id(update), rt.server.config.intake.sealed())
    await leave_no_trace(context, rt, _chat_id(update), language)
    _drop(context, update)
    return END


async def read_button(update: Update, context: Context) -> int:
    """Show on a reply notice: ask for the reference (replies are opened only with it)."""
    await _ack(update)
    data = _data(context)
    language = data.get(LANG)
    choice = (update.callback_query.data or "") if update.callback_query else ""
    data.clear()  # like /start: a form in progress is abandoned
    code = choice.partition(":")[2]
    if language or code:  # the notice's language, unless the person chose one here already
        data[LANG] = language or pick_language(code)
    await show(update, context, _screens(update, context).text(texts.FOLLOW_UP_ASK_REFERENCE))
    return FOLLOW_UP_REFERENCE


async def follow_up_reference(update: Update, context: Context) -> int:
    """The person typed their reference: any waiting replies are shown; right or wrong, the next step looks the same."""
    rt = context.runtime
    text = update.effective_message.text if update.effective_message else ""
    reading = await read_by_reference(rt, text or "")
    _data(context)[REF_HASH] = reading.ref_hash
    if reading.replies:
        await send_replies(context, rt, _chat_id(update), reading)
    await send(update, context, _screens(update, context).text(texts.FOLLOW_UP_ASK_TEXT))
    return FOLLOW_UP_TEXT


async def follow_up_text(update: Update, context: Context) -> int:
    """Seal the added information to the case's caseworkers, if the reference matched."""
    rt = context.runtime
    data = _data(context)
    text = (update.effective_message.text if update.effective_message else "") or ""
    screens = _screens(update, context)
    limit = rt.form.questions[-1].max_length if rt.form.questions else 1000
    if len(text) > limit:
        await send(update, context, screens.text(texts.ANSWER_TOO_LONG, limit=limit))
        return FOLLOW_UP_TEXT
    try:
        if add_follow_up(rt.server, data.get(REF_HASH, b""), text, data.get(LANG, "en"), rt.now()) is not None:
            rt.count("follow_ups")
    except (IntakeRefused, StorageError) as err:
        log.warning("a follow-up could not be stored (%s)", type(err).__name__)
    delay = rt.server.config.privacy.delete_after_submit_seconds
    minutes = _minutes(rt, delay)
    await send(update, context, screens.counted(texts.FOLLOW_UP_DONE, minutes, minutes=minutes),
               screens.delete_button())
    return _finish(update, context, delay)


async def timeout(update: object, context: Context) -> None:
    """No activity for the delete time: the answers go (the deletion timer removes the messages)."""
    if isinstance(update, Update):
        _drop(context, update)


async def stray_button(update: Update, context: Context) -> None:
    """A button from an earlier screen while a form is open: ignored."""
    await _ack(update)


async def expired_button(update: Update, context: Context) -> None:
    """A button pressed when no form is open (after a restart or timeout): start again."""
    await _ack(update)
    screens = _screens(update, context)
    await send(update, context, screens.text(texts.FORM_EXPIRED), screens.restart_button())
    _drop(context, update)


async def media(update: Update, context: Context) -> None:
    """Photos, files, stickers, voice: not read, not kept, deleted with the chat."""
    await send(update, context, _screens(update, context).text(texts.ONLY_TEXT))


async def unknown_command(update: Update, context: Context) -> None:
    """A command the bot does not know."""
    await send(update, context, _screens(update, context).text(texts.UNKNOWN_COMMAND))


def build_conversation(timeout_seconds: int) -> ConversationHandler:  # type: ignore[type-arg]
    """The whole intake conversation as one table of states and handlers."""
    typed = filters.TEXT & ~filters.COMMAND
    always: list[BaseHandler[Update, BotContext, object]] = [
        CommandHandler("start", start),
        CommandHandler("cancel", cancel),
        CommandHandler("forget", forget),
        CallbackQueryHandler(forget, pattern=f"^{S.FORGET}$"),
        CallbackQueryHandler(start, pattern=f"^{S.RESTART}$"),
        CallbackQueryHandler(read_button, pattern=f"^{S.READ}(:[a-z]{{1,8}})?$"),
    ]
    return ConversationHandler(
        entry_points=[*always, MessageHandler(typed, start)],
        states={
            CONSENT: [CallbackQueryHandler(
                consent_button, pattern=f"^({S.CONTINUE}|{S.LANGUAGE}|{S.FOLLOW_UP}|{S.LANGUAGE_SET}[a-z]+)$")],
            QUESTION: [
                CallbackQueryHandler(choice_button, pattern=f"^{S.ANSWER}"),
                CallbackQueryHandler(skip_button, pattern=f"^{S.SKIP}"),
                MessageHandler(typed, text_answer),
            ],
            REVIEW: [CallbackQueryHandler(review_button, pattern=f"^({S.SUBMIT}|{S.CANCEL}|{S.EDIT}.+)$")],
            FOLLOW_UP_REFERENCE: [MessageHandler(typed, follow_up_reference)],
            FOLLOW_UP_TEXT: [MessageHandler(typed, follow_up_text)],
            ConversationHandler.TIMEOUT: [TypeHandler(Update, timeout)],
        },
        fallbacks=[
            *always,
            CallbackQueryHandler(stray_button),
            MessageHandler(filters.COMMAND, unknown_command),
            MessageHandler(~filters.TEXT, media),
        ],
        conversation_timeout=timeout_seconds,
        allow_reentry=False,
    )
