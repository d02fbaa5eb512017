"""The desk's team pages: assign and tag a case, statistics, export for handover and import, the grant offer.

Each calls one Desk method (members, assign, tag, untag, stats, export, open_export), like the CLI.
An export is sealed by the desk to the chosen colleague's key and signed with mine: the browser
only ever downloads ciphertext, and an imported file is opened in this process's memory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from staff.errors import StaffError
from staff.web.charts import bar_chart, durations, hours, totals

if TYPE_CHECKING:
    from staff.web.app import DeskApp

#: The largest handover file the desk takes (a few hundred cases with their history).
IMPORT_MAX_BYTES = 16 * 1024 * 1024
STATS_WEEKS = (4, 12, 26, 52)

Action = Callable[[Request, str, dict[str, str]], Awaitable[Response]]


class Team:
    """Routes and case actions that need colleagues: registered on a DeskApp."""

    def __init__(self, app: DeskApp) -> None:
        self.app = app
        app.more_actions.update({"assign": self.assign, "tag": self.tag, "untag": self.untag})

    def routes(self) -> list[Route]:
        return [
            Route("/stats", self.stats),
            Route("/stats.csv", self.stats_csv),
            Route("/handover", self.handover),
            Route("/export", self.export, methods=["POST"]),
            Route("/import", self.import_file, methods=["POST"]),
        ]

    async def assign(self, request: Request, case_id: str, fields: dict[str, str]) -> Response:
        name = fields.get("name", "")
        await self.app.state.call(lambda d: d.assign(case_id, name))
        self.app.flash = self.app.tr(request, "Assigned to %(name)s.", name=name)
        await self.app.state.reload()
        return RedirectResponse(f"/case/{case_id}", status_code=303)

    async def tag(self, request: Request, case_id: str, fields: dict[str, str]) -> Response:
        tag = fields.get("tag", "").strip()
        await self.app.state.call(lambda d: d.tag(case_id, tag))
        self.app.flash = self.app.tr(request, "Tag added.")
        await self.app.state.reload()
        return RedirectResponse(f"/case/{case_id}", status_code=303)

    async def untag(self, request: Request, case_id: str, fields: dict[str, str]) -> Response:
        tag = fields.get("tag", "")
        await self.app.state.call(lambda d: d.untag(case_id, tag))
        self.app.flash = self.app.tr(request, "Tag removed.")
        await self.app.state.reload()
        return RedirectResponse(f"/case/{case_id}", status_code=303)

    def _weeks(self, request: Request) -> int:
        try:
            weeks = int(request.query_params.get("weeks", "12"))
        except ValueError:
            return 12
        return weeks if weeks in STATS_WEEKS else 12

    async def stats(self, request: Request) -> Response:
        weeks = self._weeks(request)
        try:
            stats = await self.app.state.call(lambda d: d.stats(weeks))
        except StaffError as err:
            self.app.flash = str(err)
            return RedirectResponse("/", status_code=303)
        tr = self.app.tr
        charts = [
            (tr(request, "Cases per week"), bar_chart(totals(stats.rows, "week"), tr(request, "Cases per week"), "c-week")),
            (tr(request, "By queue"), bar_chart(totals(stats.rows, "queue"), tr(request, "By queue"), "c-queue")),
            (tr(request, "By status"), bar_chart(totals(stats.rows, "status"), tr(request, "By status"), "c-status")),
            (tr(request, "By urgency"), bar_chart(totals(stats.rows, "urgency"), tr(request, "By urgency"),
                                                  "c-urgency")),
        ]
        return self.app.render(request, "stats.html", weeks=weeks, choices=STATS_WEEKS, charts=charts,
                               tables=[(title, totals(stats.rows, key)) for (title, _), key in
                                       zip(charts, ("week", "queue", "status", "urgency"), strict=True)],
                               claim=durations(stats.first_claim_seconds),
                               reply=durations(stats.first_reply_seconds), hours=hours)

    async def stats_csv(self, request: Request) -> Response:
        weeks = self._weeks(request)
        stats = await self.app.state.call(lambda d: d.stats(weeks))
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        return Response(stats.csv(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="waystation-stats-{day}.csv"'})

    async def handover(self, request: Request) -> Response:
        await self.app.ensure_loaded()
        members = await self.app.state.call(lambda d: d.members(None))
        chosen = set(request.query_params.getlist("case"))
        rows = sorted(self.app.state.rows.values(), key=lambda r: -r.created_at)
        return self.app.render(request, "handover.html", rows=rows, chosen=chosen,
                               members=[m for m in members if m.active and m.name != self.app.state.me],
                               opened=None)

    async def export(self, request: Request) -> Response:
        fields = await self.app.form(request, multi=("case",))
        if fields is None:
            return PlainTextResponse("Forbidden", status_code=403)
        cases = fields.get("case", "").split("\n") if fields.get("case") else []
        to = fields.get("to", "")
        if not cases or not to:
            self.app.flash = self.app.tr(request, "Choose at least one case and a colleague.")
            return RedirectResponse("/handover", status_code=303)
        try:
            sealed = await self.app.state.call(lambda d: d.export(cases, to))
        except StaffError as err:
            self.app.flash = str(err)
            return RedirectResponse("/handover", status_code=303)
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        return Response(sealed, media_type="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="waystation-handover-{day}.sealed"'})

    async def import_file(self, request: Request) -> Response:
        """A handover file, sent by the page's script as the raw body (token in the query)."""
        if not self.app.gate.form_ok(request.query_params.get("token")):
            return PlainTextResponse("Forbidden", status_code=403)
        data = b""
        async for chunk in request.stream():
            data += chunk
            if len(data) > IMPORT_MAX_BYTES:
                return PlainTextResponse(self.app.tr(request, "This file is too large for a handover."),
                                         status_code=413)
        try:
            opened = await self.app.state.call(lambda d: d.open_export(data))
        except StaffError as err:
            return PlainTextResponse(str(err), status_code=400)
        return self.app.render(request, "handover_opened.html", opened=opened)
