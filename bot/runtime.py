"""What every handler needs, stored once in application.bot_data."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telegram.ext import CallbackContext

from bot.form import Form
from bot.guards import FloodGate
from bot.i18n import Translations
from bot.refpool import ReferencePool
from bot.vanish import Vanisher
from storage.server import Server

if TYPE_CHECKING:
    from bot.alerting.alerts import Alerting

RUNTIME_KEY = "waystation"


@dataclass
class Runtime:
    """The bot's long-lived parts."""

    server: Server
    form: Form
    translations: Translations
    vanisher: Vanisher
    flood: FloodGate
    clock: Callable[[], float] = time.time
    #: Called with (case_id, queue, alert-safe answers) after a case is stored (volunteer alerts).
    case_listeners: list[Callable[..., object]] = field(default_factory=list)
    #: Volunteer alerts, escalation, digest and retention (bot/alerting/alerts.py); None runs the bot without them.
    alerting: Alerting | None = None

    #: References hashed ahead of time (None: hash at submit).
    references: ReferencePool | None = None
    #: Counts for the metrics endpoint (names: see waystation.metrics.Counters); a no-op by default.
    count: Callable[..., None] = field(default=lambda name, amount=1: None)

    def now(self) -> int:
        """Current time, whole seconds."""
        return int(self.clock())


def runtime(context: CallbackContext) -> Runtime:  # type: ignore[type-arg]
    """The Runtime of the running application."""
    value = context.application.bot_data[RUNTIME_KEY]
    if not isinstance(value, Runtime):
        raise RuntimeError("the application was built without a Waystation runtime")
    return value
