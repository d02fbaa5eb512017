"""The desk's team actions on a case: assign it to a colleague, tag and untag it (Desk.assign, tag, untag)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from staff.web.app import DeskApp

Action = Callable[[Request, str, dict[str, str]], Awaitable[Response]]


class Team:
    """Routes and case actions that need colleagues: registered on a DeskApp."""

    def __init__(self, app: DeskApp) -> None:
        self.app = app
        app.more_actions.update({"assign": self.assign, "tag": self.tag, "untag": self.untag})

    def routes(self) -> list[Route]:
        return []

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
