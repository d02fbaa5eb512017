"""What every handler needs: the bot's long-lived parts, built once, and the typed handler context.

The Runtime is frozen: `waystation.service.build_runtime` makes it with everything it holds
(clock, counters, reference pool, alerting), and `bot.app.build_application` puts it in the
Application once. Handlers and jobs get a `BotContext` (python-telegram-bot's ContextTypes),
whose `runtime` is typed; nothing looks it up by name elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.alerting.alerts import Alerting
from bot.form import Form
from bot.guards import FloodGate
from bot.i18n import Translations
from bot.keycache import BotSecrets
from bot.refpool import ReferencePool
from bot.vanish import Vanisher
from storage.server import Server

#: bot_data key: how a /volunteer that enrols nobody is answered, if not as an unknown command
#: (cover mode, bot/cover.py, sets the cover's ordinary answer: the command must not give the bot away).
STRANGER_ANSWER = "waystation-stranger-answer"

RUNTIME_KEY = "waystation"

#: Called with (context, case_id, queue, alert-safe choice option ids) after a case is stored.
CaseListener = Callable[["BotContext", str, str, Mapping[str, str]], object]
#: Counts for the metrics endpoint (names: see waystation.metrics.Counters).
Counter = Callable[..., None]


def no_count(name: str, amount: int = 1) -> None:
    """The default counter: counts nothing."""


@dataclass(frozen=True)
class Runtime:
    """The bot's long-lived parts (built once; never changed after)."""

    server: Server
    form: Form
    translations: Translations
    vanisher: Vanisher
    flood: FloodGate
    #: The bot's keys and the pepper, read once and again only when their files change.
    secrets: BotSecrets
    clock: Callable[[], float] = time.time
    #: Called after a case is stored (volunteer alerts).
    case_listeners: tuple[CaseListener, ...] = ()
    #: Volunteer alerts, escalation, digest and retention (bot/alerting/); None runs the bot without them.
    alerting: Alerting | None = None
    #: References hashed ahead of time (None: hash at submit).
    references: ReferencePool | None = None
    #: Counts for the metrics endpoint; a no-op by default.
    count: Counter = no_count

    def now(self) -> int:
        """Current time, whole seconds."""
        return int(self.clock())


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The context every Waystation handler and job gets: the Application's context plus its Runtime."""

    @property
    def runtime(self) -> Runtime:
        """The Runtime of the running application."""
        return runtime_of(self.application)


#: Given to ApplicationBuilder.context_types: every handler and job gets a BotContext.
CONTEXT_TYPES = ContextTypes(context=BotContext)

def runtime_of(application: Application[Any, Any, Any, Any, Any, Any]) -> Runtime:
    """The Runtime the application was built with (bot.app.build_application)."""
    value = application.bot_data.get(RUNTIME_KEY)
    if not isinstance(value, Runtime):
        raise RuntimeError("the application was built without a Waystation runtime")
    return value
