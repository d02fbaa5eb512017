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
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBUserWarning

from bot import texts
from bot.alerting.handlers import on_it
from bot.alerting.schedule import schedule_alert_jobs
from bot.alerting.views import ON_IT
from bot.alerting.volunteers import COMMAND as VOLUNTEER_COMMAND
from bot.alerting.volunteers import volunteer_command
from bot.conversation import (
    acknowledge,
    build_conversation,
    expired_button,
    media,
    send,
    unknown_command,
)
from bot.cover import announce_if_covered, install_cover
from bot.guards import Verdict, wants_erase
from bot.i18n import LANGUAGES
from bot.processor import PerChatUpdateProcessor, arrival_time
from bot.ratelimit import ChatPacedRateLimiter
from bot.reach import BotApiReach, ObservedRequest
from bot.replies import INTERVAL_SECONDS, deliver_notices
from bot.replies import JOB_NAME as REPLY_JOB
from bot.runtime import CONTEXT_TYPES, RUNTIME_KEY, BotContext, Runtime, runtime_of
from bot.tracking import TrackingBot
from storage.db import DatabaseError
from storage.failures import describe_error

log = logging.getLogger("waystation.bot")
Context = BotContext
MAX_CONCURRENT_UPDATES = 256
FORGET_JOB = "wal-forget"
#: Every commit already empties the WAL; this catches what a reader (a backup, a staff command
#: in direct mode) kept from being checkpointed, so frames never pile up for long.
FORGET_SECONDS = 30
#: Free pages kept shuffled for new cases to use (4 MiB: some hundreds of cases per time bucket).
FREE_PAGES = 1024
CONNECTION_POOL_SIZE = 256
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
    rt = context.runtime
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
    rt = context.runtime
    for chat_id, message_ids in rt.flood.release_all().items():
        rt.vanisher.track(context.job_queue, chat_id, message_ids)  # type: ignore[arg-type]


async def on_error(update: object, context: Context) -> None:
    """Log where it failed (exception type and code frames), never what was said; answer a pressed button."""
    error = context.error
    context.runtime.count("errors")
    # The exception's message and locals are left out: they can quote what a person typed.
    what = "update handling" if isinstance(update, Update) else "a scheduled job" if update is None else "an update"
    log.error("%s failed: %s (no message content is logged)", what,
              describe_error(error) if error is not None else "unknown error")
    if isinstance(update, Update):
        await acknowledge(update)  # whatever failed, the person's button does not spin on


async def forget_history(context: Context) -> None:
    """The periodic disk hygiene: keep free pages shuffled, fold the WAL into the database and truncate it."""
    rt = context.runtime
    db = rt.server.db
    try:
        db.keep_free_pages(rt.now(), FREE_PAGES)
    except DatabaseError as err:  # a full disk: the pool waits, the bot goes on
        log.warning("the free-page pool could not be refilled (%s); retrying in %d s", type(err).__name__,
                    FORGET_SECONDS)
    if not db.forget_history():
        log.info("a reader still uses the WAL; it is checkpointed on the next commit or in %d s", FORGET_SECONDS)


async def announce_commands(application: Application) -> None:  # type: ignore[type-arg]
    """Neutral command descriptions, in each language."""
    rt = runtime_of(application)
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
    rt = runtime_of(application)
    jobs = application.job_queue
    rt.vanisher.restore(jobs)  # type: ignore[arg-type]
    jobs.run_repeating(deliver_notices, interval=INTERVAL_SECONDS, first=1, name=REPLY_JOB)  # type: ignore[union-attr]
    jobs.run_repeating(forget_history, interval=FORGET_SECONDS, first=1, name=FORGET_JOB)  # type: ignore[union-attr]
    schedule_alert_jobs(jobs, rt)  # type: ignore[arg-type]
    jobs.run_repeating(record_held, interval=HELD_SECONDS, first=HELD_SECONDS, name=HELD_JOB)  # type: ignore[union-attr]
    if not await announce_if_covered(application):  # cover mode: the utility's name, descriptions and commands
        await announce_commands(application)


def build_application(rt: Runtime, token: str, reach: BotApiReach | None = None) -> Application:  # type: ignore[type-arg]
    """The bot, wired to the Bot API at config's api_base_url; every answer it gets is noted in `reach`."""
    warnings.filterwarnings("ignore", category=PTBUserWarning, message=".*per_message.*")
    telegram = rt.server.config.telegram

    def request(pool: int) -> HTTPXRequest:  # as ApplicationBuilder would make them
        if reach is None:
            return HTTPXRequest(connection_pool_size=pool)
        return ObservedRequest(reach, connection_pool_size=pool)

    # Every message goes out through TrackingBot: a send intent is committed before each one.
    bot = TrackingBot(
        rt.vanisher,
        token,
        base_url=telegram.api_base_url,
        request=request(CONNECTION_POOL_SIZE),
        get_updates_request=request(1),
        # One chat's 429 pauses only that chat (bot/ratelimit.py), never every send.
        rate_limiter=ChatPacedRateLimiter(telegram.max_messages_per_second, max_retries=3,
                                          chat_per_second=telegram.max_messages_per_minute_per_chat / 60),
    )
    application = (
        ApplicationBuilder()
        .bot(bot)
        .concurrent_updates(PerChatUpdateProcessor(MAX_CONCURRENT_UPDATES, clock=rt.clock))
        .context_types(CONTEXT_TYPES)  # every handler and job gets a BotContext, its Runtime typed
        .build()
    )
    application.bot_data[RUNTIME_KEY] = rt  # once, before any handler runs; the Runtime is frozen
    application.add_handler(TypeHandler(object, only_private), group=-2)
    application.add_handler(TypeHandler(Update, track_and_limit), group=-1)
    application.add_handler(CallbackQueryHandler(on_it, pattern=f"^{ON_IT}"), group=0)
    application.add_handler(CommandHandler(VOLUNTEER_COMMAND, volunteer_command), group=0)
    install_cover(application, rt)  # cover mode: only a valid entry code opens the intake (bot/cover.py)
    application.add_handler(build_conversation(rt.vanisher.delete_after), group=1)
    application.add_handler(CallbackQueryHandler(expired_button), group=1)
    application.add_handler(MessageHandler(filters.COMMAND, unknown_command), group=1)
    application.add_handler(MessageHandler(~filters.TEXT, media), group=1)
    application.add_error_handler(on_error)
    return application
