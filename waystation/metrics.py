"""The /metrics endpoint: counts only, in the Prometheus text exposition format 0.0.4.

Nothing here can carry a person's data: counters have fixed names (an unknown name is
refused, so nobody can make a counter out of a chat id), and the only label values are
queue names (from config.toml and the roster), case statuses and roster states.

Counts over time still show when people reach out. Serve /metrics to the local machine or
the internal network only; the Caddyfile in deploy/ refuses it from outside.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.refpool import ReferencePool
from storage.cases import Status
from storage.deletions import DeletionStore
from storage.errors import RosterUnavailable
from storage.rosterlife import Phase, Standing
from storage.server import Server
from waystation.health import READY, Health

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Counter name -> help text. `Counters.inc` accepts these names and no other.
COUNTERS: dict[str, str] = {
    "updates": "Telegram updates processed.",
    "intakes": "Requests encrypted and queued.",
    "intakes_refused": "Requests that could not be queued (no caseworker, database refused).",
    "follow_ups": "Follow-ups added to existing cases.",
    "messages_deleted": "Chat messages deleted (ids sent to deleteMessages, swept ids included).",
    "deletions_unsaved": "Message ids kept in memory only because the database could not be written.",
    "send_retries": "Bot API calls retried after a network error or a rate limit.",
    "errors": "Errors caught by the bot's error handler.",
}


@dataclass
class Counters:
    """Monotonic event counts, shared by the bot's handlers; thread-safe."""

    _values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def inc(self, name: str, amount: int = 1) -> None:
        """Add `amount` (at least 0) to the counter `name`; unknown names raise ValueError."""
        if name not in COUNTERS:
            raise ValueError(f"unknown counter {name!r}; known: {', '.join(COUNTERS)}")
        if amount < 0:
            raise ValueError("counters only go up")
        with self._lock:
            self._values[name] += amount

    def snapshot(self) -> dict[str, int]:
        """A copy of every counter."""
        with self._lock:
            return dict(self._values)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(server: Server, counters: Counters, now: int, health: Health | None = None,
           references: ReferencePool | None = None) -> str:
    """The metrics page: the counters, queue depth and pending deletions read from the database, readiness."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")

    for key, value in counters.snapshot().items():
        name = f"waystation_{key}_total"
        family(name, "counter", COUNTERS[key])
        lines.append(f"{name} {value}")
    family("waystation_cases", "gauge", "Cases in the queue, by queue and status.")
    for queue, statuses in sorted(server.cases.stats().items()):
        for status in Status:
            lines.append(f'waystation_cases{{queue="{_label(queue)}",status="{status.value}"}} '
                         f"{statuses.get(status.value, 0)}")
    _roster(server, now, family, lines)
    pending, overdue = DeletionStore(server.db).counts(now)
    family("waystation_deletions_pending", "gauge", "Intake chat messages waiting to be deleted.")
    lines.append(f"waystation_deletions_pending {pending}")
    family("waystation_deletions_overdue", "gauge", "Intake chat messages past their deletion time.")
    lines.append(f"waystation_deletions_overdue {overdue}")
    if references is not None:
        family("waystation_ready_references", "gauge",
               "Case tickets made ahead of time ([intake] ready_references): a burst beyond them waits for Argon2id.")
        lines.append(f"waystation_ready_references {references.ready()}")
    if health is not None:
        parts = health.parts()
        family("waystation_ready", "gauge", "1 when /healthz answers 200: every part below is ready.")
        lines.append(f"waystation_ready {int(all(state in READY for state in parts.values()))}")
        family("waystation_part_ready", "gauge", "1 for each part of /healthz that is ready, 0 for one that is not.")
        for part, state in parts.items():
            lines.append(f'waystation_part_ready{{part="{part}"}} {int(state in READY)}')
    return "\n".join(lines) + "\n"


def _roster(server: Server, now: int, family: Callable[[str, str, str], None], lines: list[str]) -> None:
    """The roster's state and its dates as seconds from now, so that an alert rule can fire weeks ahead."""
    try:
        current: Standing | None = server.roster_standing(now)
    except RosterUnavailable:
        current = None  # missing, altered, signed by an unpinned or revoked admin, rolled back
    state = "invalid" if current is None else current.phase.value
    family("waystation_roster_state", "gauge",
           "1 for the roster's state: valid, grace (expired; requests still sealed to its caseworkers of that "
           "moment), expired (every request refused) or invalid (it does not verify).")
    for name in (*(p.value for p in Phase), "invalid"):
        lines.append(f'waystation_roster_state{{state="{name}"}} {int(name == state)}')
    if current is None:
        return
    family("waystation_roster_expires_seconds", "gauge",
           "Seconds until the roster expires (its own expiry or its signer's); negative once it has.")
    lines.append(f"waystation_roster_expires_seconds {current.expires - now}")
    family("waystation_roster_grace_ends_seconds", "gauge",
           "Seconds until the roster's grace period ends and every request is refused; negative once it has.")
    lines.append(f"waystation_roster_grace_ends_seconds {current.grace_ends - now}")
    upcoming = [m.expires for m in current.roster.members if m.active(now)]
    if upcoming:
        family("waystation_roster_member_expires_seconds", "gauge",
               "Seconds until the next active roster member expires ('roster renew --members' extends them).")
        lines.append(f"waystation_roster_member_expires_seconds {min(upcoming) - now}")
    family("waystation_roster_admins", "gauge", "Active admins on the roster (fewer than two: one lost key locks it).")
    lines.append(f"waystation_roster_admins {len(current.roster.admins(current.at))}")
    family("waystation_roster_caseworkers", "gauge",
           "Active caseworkers by queue: those requests are sealed to (during the grace, of its last valid moment).")
    config = server.config
    queues = sorted({config.queues.default, *(r.queue for r in config.routing), *current.roster.queues()})
    for queue in queues:
        lines.append(f'waystation_roster_caseworkers{{queue="{_label(queue)}"}} '
                     f"{len(current.roster.caseworkers_for(queue, current.at))}")


def metrics_route(server: Server, counters: Counters, clock: Callable[[], float] = time.time,
                  health: Health | None = None, references: ReferencePool | None = None) -> Route:
    """A Starlette route for GET /metrics.

    The database is read on the event loop's thread, the thread that owns the connection;
    the queries are two small aggregates over indexed columns.
    """

    async def metrics(_: Request) -> Response:
        return Response(render(server, counters, int(clock()), health, references), media_type=CONTENT_TYPE)

    return Route("/metrics", metrics, methods=["GET"])
