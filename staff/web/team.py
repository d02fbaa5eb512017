"""The desk's team pages: assign and tag a case (Desk.assign, tag, untag) and statistics (Desk.stats).

Statistics come from case metadata (the server decrypts nothing for them); charts are inline SVG
made here, each with the same figures as a table for screen readers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from staff.errors import StaffError
from staff.web.charts import Chart, bar_chart, durations, hours, totals

if TYPE_CHECKING:
    from staff.web.app import DeskApp

STATS_WEEKS = (4, 12, 26, 52)

Action = Callable[[Request, str, dict[str, str]], Awaitable[Response]]


class Team:
    """Routes and case actions that need colleagues: registered on a DeskApp."""

    def __init__(self, app: DeskApp) -> None:
        self.app = app
        app.more_actions.update({"assign": self.assign, "tag": self.tag, "untag": self.untag})

    def routes(self) -> list[Route]:
        return [Route("/stats", self.stats), Route("/stats.csv", self.stats_csv)]

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
