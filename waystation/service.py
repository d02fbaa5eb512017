"""`waystation bot run`: the bot and its ASGI server (webhook, health, staff API) in one event loop."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import nacl.utils
import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from telegram.ext import Application

from bot.alerting.alerts import Alerting
from bot.alerting.handlers import on_case_stored
from bot.app import build_application, on_start
from bot.form import load_form
from bot.guards import FloodGate
from bot.i18n import Translations
from bot.keycache import BotSecrets
from bot.reach import HEARTBEAT_JOB, BotApiReach, heartbeat
from bot.refpool import ReferencePool
from bot.runtime import Counter, Runtime, no_count
from bot.token import find_token
from bot.vanish import Vanisher
from bot.webform.routes import webform_routes
from bot.webhook import WEBHOOK_PATH, webhook_routes
from staffapi import staff_api_routes
from storage.config import TelegramConfig
from storage.deletions import DeletionStore
from storage.files import write_new
from storage.home import Home
from storage.server import Server
from waystation.health import OK, Health
from waystation.logging_setup import configure_logging
from waystation.metrics import Counters, metrics_route
from waystation.startup import bind_listener, reach_bot_api

log = logging.getLogger("waystation.service")
ALLOWED_UPDATES = ["message", "callback_query"]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def webhook_secret(server: Server) -> str:
    """The secret Telegram must echo in its header; made once, kept in secrets/."""
    path = server.home.secrets / "webhook_secret"
    if not path.exists():
        write_new(path, base64.urlsafe_b64encode(nacl.utils.random(36)) + b"\n")
    return path.read_text(encoding="ascii").strip()


def build_runtime(server: Server, *, clock: Callable[[], float] = time.time, count: Counter = no_count,
                  references: ReferencePool | None = None) -> Runtime:
    """Form, translations, deletion timers, flood gate and alerting for one server: the whole Runtime, once."""
    privacy = server.config.privacy
    form = load_form(server.home.root / "form.toml")
    translations = Translations.load()
    vanisher = Vanisher(DeletionStore(server.db), privacy.delete_after_seconds, time.time,
                        volunteer_delete_after=server.config.alerts.delete_after_hours * 3600)
    vanisher.count = count
    return Runtime(
        server=server,
        form=form,
        translations=translations,
        vanisher=vanisher,
        flood=FloodGate(privacy.flood_messages, privacy.flood_window_seconds),
        secrets=BotSecrets(server.home),
        clock=clock,
        case_listeners=(on_case_stored,),
        alerting=Alerting(server),  # volunteer alerts (docs/alerts.md)
        references=references,
        count=count,
    )


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: `serve` owns SIGINT and SIGTERM.

    uvicorn's handlers re-raise the signal once it has shut down; for SIGTERM (what systemd and
    container runtimes send) the default action then kills the process before our shutdown ran.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Stopper:
    """SIGINT and SIGTERM ask for one orderly stop; a second signal stops without waiting for connections."""

    def __init__(self, task: asyncio.Task[None]) -> None:
        self.requested = False
        self._task = task
        self._asgi: uvicorn.Server | None = None

    def request(self) -> None:
        """A stop signal arrived."""
        if self._asgi is None:
            self.requested = True
            self._task.cancel()  # still opening the home, before the listener serves: stop that at once
            return
        if self.requested:
            self._asgi.force_exit = True
        self.requested = True
        self._asgi.should_exit = True

    def serving(self, asgi: uvicorn.Server) -> None:
        """From now on a stop ends the ASGI server, whose return runs the shutdown path (also in the Bot API wait)."""
        self._asgi = asgi
        if self.requested:
            asgi.should_exit = True


@contextmanager
def stop_signals(stopper: Stopper) -> Iterator[None]:
    """Route SIGINT and SIGTERM to `stopper` while the bot runs (signals reach only the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stopper.request)
    try:
        yield
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


async def serve(
    home: Path, environ: Mapping[str, str] = os.environ, extra_routes: list[BaseRoute] | None = None
) -> None:
    """Run until SIGINT/SIGTERM: bot (polling or webhook) plus the ASGI server. Both signals stop it the same way."""
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("serve() must run as an asyncio task")
    stopper = Stopper(task)
    with stop_signals(stopper):
        try:
            await _serve(home, environ, extra_routes, stopper)
        except asyncio.CancelledError:
            if not stopper.requested:
                raise
            task.uncancel()
            log.info("bot stopped (a stop signal came while it was starting)")


async def _serve(home: Path, environ: Mapping[str, str], extra_routes: list[BaseRoute] | None,
                 stopper: Stopper) -> None:
    Home(home).require_private_secrets()  # before any secret is read: a secret others can read is refused
    with Server.open(home, environ) as server:
        configure_logging(server.config)
        token, token_source = find_token(server.home.secrets, environ)
        # A home made before pepper check values gets one while nothing depends on the pepper yet;
        # then the pepper is verified, so a damaged one stops the bot here instead of silently
        # making every follow-up and volunteer code match nothing.
        server.record_pepper_check()
        pepper = server.pepper()
        # A chat state that does not open would lose every pending deletion silently: refuse to start.
        DeletionStore(server.db).start_writing()
        _say_key_origin(server)  # once the home checked out: a refusal above stays one line
        if not server.note_bot_key():
            log.warning("secrets/bot_identity.json is older than the newest bot identity this database was used "
                        "with: caseworkers who pinned the newer key are refused; see 'waystation doctor'")
        counters = Counters()
        intake = server.config.intake
        # With the sealed form only, the page derives each reply key: the pool's tickets need none.
        references = ReferencePool(pepper, intake.ready_references,
                                   reply_keys=not (intake.sealed() and intake.mode == "sealed_form"))
        references.start()
        rt = build_runtime(server, count=counters.inc, references=references)
        telegram = server.config.telegram
        reach = BotApiReach(ask_after=telegram.bot_api_silence_seconds / 3)
        application = build_application(rt, token, reach)
        health = Health(server, reach, telegram.bot_api_silence_seconds)
        routes: list[BaseRoute] = [
            health.route(),
            metrics_route(server, counters, health=health, references=references),
            *staff_api_routes(server, time.time),
            *(extra_routes or []),
        ]
        if server.config.intake.sealed():
            routes += webform_routes(rt, application, token)  # the sealed form (docs/deploy.md)
        elif server.config.intake.mode != "chat":
            log.warning("intake.public_url is empty: the sealed form cannot be opened, so the bot asks in the chat; "
                        "see docs/deploy.md")
        secret = webhook_secret(server) if telegram.mode == "webhook" else ""
        if telegram.mode == "webhook":
            routes += webhook_routes(application, secret)
        try:
            # The address first: a port in use is one line, before anything says the bot runs.
            listener = bind_listener(server.config.staff_api.listen)
            # log_config=None: uvicorn's own logging config would give its loggers a handler of their
            # own, printing full tracebacks (with messages) past our redacting handler.
            asgi = _Uvicorn(uvicorn.Config(Starlette(routes=routes), log_level="warning", access_log=False,
                                           lifespan="off", log_config=None))
            # The staff API, /healthz and /metrics serve while the bot waits for the Bot API: caseworkers
            # keep working through a Telegram outage, and /healthz says what is missing.
            serving = asyncio.create_task(asgi.serve(sockets=[listener]), name="asgi")
            stopper.serving(asgi)
            try:
                if await _first(reach_bot_api(application.bot, telegram.api_base_url, token_source), serving):
                    await _start_bot(application, telegram, secret, reach)
                    health.bot = OK
                    log.info("bot running (%s); staff API on %s", telegram.mode, server.config.staff_api.listen)
                    await serving
            finally:
                health.bot = "stopping"
                if not serving.done():
                    asgi.should_exit = True
                await asyncio.gather(serving, return_exceptions=True)
                listener.close()
                if application.updater is not None and application.updater.running:
                    await application.updater.stop()
                if application.running:
                    await application.stop()
                await application.shutdown()
                await application.bot.shutdown()  # opened while waiting for the Bot API, if the bot never started
                rt.vanisher.flush()  # sends settled in the last moment: their ids, not a sweep, on the next start
        finally:
            references.stop()
            # Fold the WAL into the database and truncate it: no old frames stay behind on disk.
            server.db.forget_history()
        log.info("bot stopped")


async def _first(starting: Coroutine[object, object, None], serving: asyncio.Task[None]) -> bool:
    """Run `starting` until it finishes (True) or the ASGI server stops first, on a stop signal (False)."""
    task = asyncio.create_task(starting, name="reach-bot-api")
    await asyncio.wait({task, serving}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # TokenRefused, say
        return True
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return False


async def _start_bot(application: Application, telegram: TelegramConfig, secret: str,  # type: ignore[type-arg]
                     reach: BotApiReach) -> None:
    """Start the application, its timers and updates: polling, or the webhook set at Telegram."""
    await application.initialize()
    await application.start()
    await on_start(application)
    jobs = application.job_queue
    jobs.run_repeating(heartbeat, interval=reach.ask_after, first=reach.ask_after,  # type: ignore[union-attr]
                       name=HEARTBEAT_JOB, data=reach)
    if telegram.mode == "webhook":
        await application.bot.set_webhook(telegram.webhook_url.rstrip("/") + WEBHOOK_PATH,
                                          secret_token=secret, allowed_updates=ALLOWED_UPDATES)
    else:
        await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)  # type: ignore[union-attr]


def _say_key_origin(server: Server) -> None:
    """One line naming where the database key came from (never the key), and a warning for a shadowed db.key."""
    origin = server.key_origin
    if origin is None:
        return
    log.info("database key: from %s", origin.describe())
    if origin.shadowed_file is not None:
        log.warning("%s is ignored: %s comes first; delete the file if it is stale, or see 'waystation doctor'",
                    origin.shadowed_file, origin.describe())


def run(home: Path) -> None:
    """Blocking entry point for the CLI."""
    asyncio.run(serve(home))
