"""/healthz: ready only when intake can work, and which part is not; never any content.

Four parts, each a fixed word (so nothing a person sent, no name and no count can appear):

- roster: a verified roster that intake can seal to (`roster_part`);
- database: the last write did not fail, and the file system holding the database has room
  (`database_part`);
- bot_api: a Bot API call got an answer within `[telegram] bot_api_silence_seconds`
  (bot/reach.py; an idle bot asks getMe now and then, so silence means the API is unreachable);
- bot: the bot has started (polling or the webhook is set) and is not stopping.

200 with every part when all are ready, 503 naming the parts that are not. /healthz is served on
the staff API listener; the Caddyfile refuses it from outside, as it does /metrics.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.reach import BotApiReach
from storage.errors import StorageError
from storage.rosterlife import Phase
from storage.server import Server

#: The database is "low-space" below this much free space on its file system: a case takes a few
#: KiB, a day's deletions list a few hundred KiB, the shuffled free-page pool 4 MiB.
MIN_FREE_BYTES = 16 * 2**20
#: After a failed write, a probe write is tried at most this often until one succeeds.
PROBE_EVERY = 30.0
OK = "ok"
#: Part states that still let intake work: during the roster's grace period requests are still sealed.
GRACE = "grace"
READY = frozenset({OK, GRACE})
PROBE_KEY = "health_probe"


def roster_part(server: Server, now: int) -> str:
    """"ok" while the roster is valid, "grace" while it has expired but intake still seals to it
    ([roster] grace_days: ready, and the admins are told), else "unusable" (never why: doctor's job)."""
    try:
        server.sealing_roster(now)
        current = server.roster_standing(now)
    except StorageError:
        return "unusable"
    return GRACE if current.phase is Phase.GRACE else OK


@dataclass
class Health:
    """Readiness of one running bot, for /healthz and /metrics."""

    server: Server
    reach: BotApiReach
    silence_seconds: int
    clock: Callable[[], float] = time.time
    #: "starting" until polling runs or the webhook is set, "ok" while it does, then "stopping".
    bot: str = "starting"
    _probed_at: float = field(default=0.0, repr=False)

    def database_part(self) -> str:
        """"write-failed" while the last write failed (until a write succeeds), "low-space" near a full disk."""
        db = self.server.db
        if db.write_failure is not None:
            self._probe()
            if db.write_failure is not None:
                return "write-failed"
        try:
            info = os.statvfs(db.path.parent)
        except OSError:
            return "write-failed"
        if info.f_bavail * info.f_frsize < MIN_FREE_BYTES:
            return "low-space"
        return OK

    def _probe(self) -> None:
        """One small committed write (a coarse time in meta): proof that writes work again after a failure."""
        now = self.clock()
        if now - self._probed_at < PROBE_EVERY:
            return
        self._probed_at = now
        db = self.server.db
        try:
            with db.transaction() as conn:
                db.set_meta(conn, PROBE_KEY, str(db.coarse(int(now))))
        except StorageError:
            pass  # still failing: write_failure stays set

    def bot_api_part(self) -> str:
        """"ok" if a Bot API call got an answer within the silence window."""
        silent = self.reach.silent_for()
        return OK if silent is not None and silent <= self.silence_seconds else "unreachable"

    def parts(self) -> dict[str, str]:
        """Each part's state, in a fixed order."""
        return {
            "roster": roster_part(self.server, int(self.clock())),
            "database": self.database_part(),
            "bot_api": self.bot_api_part(),
            "bot": self.bot,
        }

    def route(self) -> Route:
        """GET /healthz: 200 when ready, 503 naming the parts that are not."""

        async def healthz(_: Request) -> Response:
            parts = self.parts()
            failed = [name for name, state in parts.items() if state not in READY]
            body: dict[str, object] = {"ok": not failed, "parts": parts}
            if failed:
                body["failed"] = failed
            return JSONResponse(body, status_code=503 if failed else 200)

        return Route("/healthz", healthz, methods=["GET"])
