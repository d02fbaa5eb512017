"""Building the python-telegram-bot Application: handlers in order, rate limiter, timers."""

from __future__ import annotations

import logging
import warnings

from telegram import BotCommand, Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot import texts
from bot.alerts import on_it
from bot.alertviews import ON_IT
from bot.conversation import build_conversation, expired_button, media, send, unknown_command
from bot.guards import Verdict, wants_erase
from bot.i18n import LANGUAGES
from bot.processor import PerChatUpdateProcessor, arrival_time
from bot.ratelimit import ChatPacedRateLimiter
from bot.replies import INTERVAL_SECONDS, SHOW, deliver_notices, show_reply
from bot.replies import JOB_NAME as REPLY_JOB
from bot.runtime import RUNTIME_KEY, Runtime, runtime
from bot.schedule import schedule_alert_jobs
from bot.volunteers import COMMAND as VOLUNTEER_COMMAND
from bot.volunteers import volunteer_command

log = logging.getLogger("waystation.bot")
Context = ContextTypes.DEFAULT_TYPE
MAX_CONCURRENT_UPDATES = 256
HELD_JOB, HELD_SECONDS = "flood-held-deletions", 1.0


async def only_private(update: object, context: Context) -> None:
    """Groups, channels and updates without a private chat are ignored entirely."""
    if not isinstance(update, Update):
        raise ApplicationHandlerStop
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE or (update.message is None and update.callback_query is None):
        raise ApplicationHandlerStop


async def track_and_limit(update: Update, context: Context) -> None:
    """Every incoming message goes on the deletion list; a flooding chat is ignored for a while."""
    rt = runtime(context)
    rt.count("updates")
    chat_id = update.effective_chat.id  # type: ignore[union-attr]
    message_ids = [update.message.message_id] if update.message is not None else []
    arrived = arrival_time(context.application, update)  # counted by arrival, however slow this chat's turn
    verdict = rt.flood.check(chat_id, rt.clock() if arrived is None else arrived, erase=wants_erase(update))
    if verdict is Verdict.IGNORE:
        rt.flood.hold(chat_id, message_ids)  # recorded for deletion within a second, by record_held
        raise ApplicationHandlerStop
    rt.vanisher.track(context.job_queue, chat_id, [*rt.flood.release(chat_id), *message_ids])  # type: ignore[arg-type]
    if verdict is Verdict.PASS:
        return
    # WARN, once per window; otherwise (IGNORE above) a flooding chat gets no answer, not even to a button.
    language = context.chat_data.get("lang", "en") if context.chat_data is not None else "en"
    warning = rt.translations.gettext(language, texts.SLOW_DOWN)
    if update.callback_query is not None:
        await update.callback_query.answer(warning)  # a toast: nothing is left in the chat
    else:
        await send(update, context, warning)
    raise ApplicationHandlerStop


async def record_held(context: Context) -> None:
    """Every second: the messages of flooding chats go on the deletion list, one write per chat."""
    rt = runtime(context)
    for chat_id, message_ids in rt.flood.release_all().items():
        rt.vanisher.track(context.job_queue, chat_id, message_ids)  # type: ignore[arg-type]


async def on_error(update: object, context: Context) -> None:
    """Log what failed, never what was said."""
    error = context.error
    runtime(context).count("errors")
    log.error("update handling failed: %s (see the code path; no message content is logged)",
              type(error).__name__ if error else "unknown error")


async def announce_commands(application: Application) -> None:  # type: ignore[type-arg]
    """Neutral command descriptions, in each language."""
    rt: Runtime = application.bot_data[RUNTIME_KEY]
    for code in LANGUAGES:
        commands = [
            BotCommand("start", rt.translations.gettext(code, texts.COMMAND_START)),
            BotCommand("cancel", rt.translations.gettext(code, texts.COMMAND_CANCEL)),
            BotCommand("forget", rt.translations.gettext(code, texts.COMMAND_FORGET)),
        ]
        await application.bot.set_my_commands(commands, language_code=None if code == "en" else code)


async def on_start(application: Application) -> None:  # type: ignore[type-arg]
    """Call once the application has started: deletion timers rebuilt from the database, neutral commands.

    (PTB runs `post_init` only from run_polling/run_webhook; we start the
    application ourselves to share the event loop with the ASGI server.)
    """
    rt: Runtime = application.bot_data[RUNTIME_KEY]
    jobs = application.job_queue
    rt.vanisher.restore(jobs)  # type: ignore[arg-type]
    jobs.run_repeating(deliver_notices, interval=INTERVAL_SECONDS, first=1, name=REPLY_JOB)  # type: ignore[union-attr]
    schedule_alert_jobs(jobs, rt)  # type: ignore[arg-type]
    jobs.run_repeating(record_held, interval=HELD_SECONDS, first=HELD_SECONDS, name=HELD_JOB)  # type: ignore[union-attr]
    await announce_commands(application)


def build_application(rt: Runtime, token: str) -> Application:  # type: ignore[type-arg]
    """The bot, wired to the Bot API at config's api_base_url."""
    warnings.filterwarnings("ignore", category=PTBUserWarning, message=".*per_message.*")
    settings = rt.server.config.telegram
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.api_base_url)
        .rate_limiter(ChatPacedRateLimiter(settings.max_messages_per_second, max_retries=3,
                                           chat_per_second=settings.max_messages_per_minute_per_chat / 60))
        .concurrent_updates(PerChatUpdateProcessor(MAX_CONCURRENT_UPDATES, clock=rt.clock))
        .build()
    )
    application.bot_data[RUNTIME_KEY] = rt
    application.add_handler(TypeHandler(object, only_private), group=-2)
    application.add_handler(TypeHandler(Update, track_and_limit), group=-1)
    application.add_handler(CallbackQueryHandler(show_reply, pattern=f"^{SHOW}"), group=0)
    application.add_handler(CallbackQueryHandler(on_it, pattern=f"^{ON_IT}"), group=0)
    application.add_handler(CommandHandler(VOLUNTEER_COMMAND, volunteer_command), group=0)
    application.add_handler(build_conversation(rt.vanisher.delete_after), group=1)
    application.add_handler(CallbackQueryHandler(expired_button), group=1)
    application.add_handler(MessageHandler(filters.COMMAND, unknown_command), group=1)
    application.add_handler(MessageHandler(~filters.TEXT, media), group=1)
    application.add_error_handler(on_error)
    return application
