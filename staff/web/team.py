"""The desk's team pages: assign and tag a case, statistics, and handover files (export and import).

Each calls one Desk method (assign, tag, untag, stats, members, export, import_handover), as the
CLI does. Statistics come from case metadata; charts are inline SVG made here, each with the same
figures as a table for screen readers. A handover is sealed by the desk to the chosen colleague's
key and signed with mine: the browser only ever downloads ciphertext, and a file it uploads is
opened in this process's memory and shown, never written.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from staff.errors import StaffError
from staff.web.charts import Chart, bar_chart, durations, hours, totals

if TYPE_CHECKING:
    from staff.web.app import DeskApp

STATS_WEEKS = (4, 12, 26, 52)
#: The largest handover file the desk takes (a few hundred cases with their history).
IMPORT_MAX_BYTES = 16 * 1024 * 1024

Action = Callable[[Request, str, dict[str, str]], Awaitable[Response]]


class Team:
    """Routes and case actions that need colleagues: registered on a DeskApp."""

    def __init__(self, app: DeskApp) -> None:
        self.app = app
        app.more_actions.update({"assign": self.assign, "tag": self.tag, "untag": self.untag})

    def routes(self) -> list[Route]:
        return [Route("/stats", self.stats), Route("/stats.csv", self.stats_csv), Route("/handover", self.handover),
                Route("/export", self.export, methods=["POST"]), Route("/import", self.import_file, methods=["POST"])]

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
        charts = []
        for key, title in (("week", "Cases per week"), ("queue", "By queue"), ("status", "By status"),
                           ("urgency", "By urgency")):
            series = totals(stats.rows, key)
            shown = self.app.tr(request, title)
            charts.append(Chart(shown, bar_chart(series, shown, f"c-{key}"), series))
        return self.app.render(request, "stats.html", weeks=weeks, choices=STATS_WEEKS, charts=charts,
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
                               members=[m for m in members if m.active and m.name != self.app.state.me])

    async def export(self, request: Request) -> Response:
        fields = await self.app.form_lists(request)
        if fields is None:
            return PlainTextResponse("Forbidden", status_code=403)
        cases = [c for c in fields.get("case", []) if c]
        to = fields.get("to", [""])[0]
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
            opened = await self.app.state.call(lambda d: d.import_handover(data))
        except StaffError as err:
            return PlainTextResponse(str(err), status_code=400)
        return self.app.render(request, "handover_opened.html", opened=opened)
