"""The desk's Starlette app: pages over DeskState, every answer with a strict CSP and no-store.

Every page and action calls staff.desk.Desk methods only (through DeskState.call), so the web
desk, the CLI and the terminal inbox cannot drift. Requests without the session cookie get a
bare 403; a wrong URL secret a bare 404: neither says anything about the desk.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from staff.casework import CaseDetail, fold_tags, when
from staff.desk import Desk
from staff.errors import StaffError
from staff.web import i18n
from staff.web.gate import COOKIE, Gate
from staff.web.inbox import AGES, SORTS, Filters, choices, select
from staff.web.life import HEARTBEAT_SECONDS, Life
from staff.web.preview import NoticeTexts, preview
from staff.web.state import MAX_UNLOCK_TRIES, DeskLocked, DeskState
from staff.web.team import Action, Team

HERE = Path(__file__).parent
LANG_COOKIE = "waystation_desk_lang"
FORM_MAX_BYTES = 64 * 1024
#: The page may load and talk to nothing but this server; no inline script, no framing, no plugins.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",  # no-referrer would make Chromium send "Origin: null" on our own forms
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
#: The roster and colleagues (the grant offer) are fetched again this often; the cases every refresh_seconds.
TEAM_REFRESH_SECONDS = 300.0
LISTING_SHARE = 5.0
#: The inbox shows at most this many rows (the count says how many match; filters and search narrow them).
MAX_ROWS = 500
#: Paths a request may reach while locked (the rest redirect to /unlock).
WHILE_LOCKED = ("/unlock", "/static/", "/heartbeat", "/bye", "/language", "/help")


@dataclass(frozen=True)
class Settings:
    """What the desk process was started with."""

    notice: NoticeTexts
    hosts: Collection[str]  # Host headers accepted (127.0.0.1:PORT): a DNS-rebinding page is refused
    refresh_seconds: float = 20.0
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time


class DeskApp:
    """The web desk: routes, templates and the watchdog that locks and ends it."""

    def __init__(self, state: DeskState, gate: Gate, life: Life, settings: Settings) -> None:
        self.state, self.gate, self.life, self.settings = state, gate, life, settings
        self.flash: str | None = None
        self.ended = asyncio.Event()
        self.more_actions: dict[str, Action] = {}
        team = Team(self)
        self.catalogues = catalogues = i18n.load()
        self.envs: dict[str, Environment] = {}
        for code, catalogue in catalogues.items():
            env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                              extensions=["jinja2.ext.i18n"])
            env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
            env.filters["when"] = when
            self.envs[code] = env
        routes = [
            Route("/s/{secret}", self.enter),
            Route("/", self.inbox),
            Route("/rows", self.rows),
            Route("/case/{case_id}", self.case),
            Route("/case/{case_id}/{action}", self.act, methods=["POST"]),
            Route("/unlock", self.unlock_page),
            Route("/unlock", self.unlock, methods=["POST"]),
            Route("/lock", self.lock, methods=["POST"]),
            Route("/heartbeat", self.heartbeat, methods=["POST"]),
            Route("/bye", self.bye, methods=["POST"]),
            Route("/language", self.language, methods=["POST"]),
            Route("/help", self.help),
            Route("/grant", self.grant, methods=["POST"]),
            Route("/refresh", self.refresh, methods=["POST"]),
            *team.routes(),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        self.app = Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=self.guard)],
                             lifespan=self._lifespan)

    # -- the guard in front of every request --------------------------------------------------

    async def guard(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await self._guarded(request, call_next)
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        return response

    async def _guarded(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.headers.get("host") not in self.settings.hosts:
            return PlainTextResponse("Forbidden", status_code=403)
        path = request.url.path
        if path.startswith("/s/"):
            return await call_next(request)
        if not self.gate.admits(request.cookies.get(COOKIE)):
            return PlainTextResponse("Forbidden", status_code=403)
        origin = request.headers.get("origin")
        if request.method != "GET" and origin is not None and origin.split("//", 1)[-1] not in self.settings.hosts:
            return PlainTextResponse("Forbidden", status_code=403)
        if path not in ("/heartbeat", "/bye", "/rows") and not path.startswith("/static/"):
            self.life.active()
        if self.state.locked and not path.startswith(WHILE_LOCKED):
            if request.method == "GET" and path in ("/rows",):
                return PlainTextResponse("locked", status_code=423)
            return RedirectResponse("/unlock", status_code=303)
        return await call_next(request)

    # -- rendering ----------------------------------------------------------------------------

    def lang_of(self, request: Request) -> str:
        """The interface language: the page's switch, else the browser's Accept-Language."""
        return i18n.negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        lang = self.lang_of(request)
        flash, self.flash = self.flash, None
        html = self.envs[lang].get_template(template).render(
            lang=lang, languages=i18n.LANGUAGES, me=self.state.me, where=self.state.where, token=self.gate.form_token,
            path=request.url.path, flash=flash, locked=self.state.locked, heartbeat=int(HEARTBEAT_SECONDS),
            **context)
        return HTMLResponse(html, status_code=status)

    def tr(self, request: Request, message: str, **values: object) -> str:
        """A message of the desk's catalogue in the request's language (%(name)s placeholders filled)."""
        text = self.catalogues[self.lang_of(request)].gettext(message)
        return text % values if values else text

    def ntr(self, request: Request, singular: str, plural: str, n: int) -> str:
        """A message showing the number `n` (%(num)s), in the plural form the request's language uses for it."""
        return self.catalogues[self.lang_of(request)].ngettext(singular, plural, n) % {"num": n}

    async def form_lists(self, request: Request) -> dict[str, list[str]] | None:
        """A urlencoded form (at most FORM_MAX_BYTES) carrying this session's token; None otherwise."""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > FORM_MAX_BYTES:
                return None
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return None
        token = fields.get("token")
        return fields if token is not None and len(token) == 1 and self.gate.form_ok(token[0]) else None

    async def form(self, request: Request) -> dict[str, str] | None:
        """The form's fields, the first value of each (see form_lists)."""
        fields = await self.form_lists(request)
        return None if fields is None else {k: v[0] for k, v in fields.items()}

    # -- entering, locking, ending --------------------------------------------------------------

    async def enter(self, request: Request) -> Response:
        session = self.gate.exchange(request.path_params["secret"])
        if session is None:
            return PlainTextResponse("Not Found", status_code=404)
        self.life.active()
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, session, httponly=True, samesite="strict", path="/")
        return response

    async def unlock_page(self, request: Request) -> Response:
        if not self.state.locked:
            return RedirectResponse("/", status_code=303)
        return self.render(request, "unlock.html", wrong=request.query_params.get("wrong") == "1")

    async def unlock(self, request: Request) -> Response:
        fields = await self.form(request)
        if fields is None:
            return PlainTextResponse("Forbidden", status_code=403)
        if await self.state.unlock(fields.get("passphrase", "").encode("utf-8")):
            await self.state.reload()
            return RedirectResponse("/", status_code=303)
        if self.state.failed_unlocks >= MAX_UNLOCK_TRIES:
            self.ended.set()  # someone is guessing: the desk ends, the key file stays as it was
            return PlainTextResponse("The desk has ended. Start it again from the terminal.", status_code=403)
        return RedirectResponse("/unlock?wrong=1", status_code=303)

    async def lock(self, request: Request) -> Response:
        if await self.form(request) is None:
            return PlainTextResponse("Forbidden", status_code=403)
        await self.state.lock()
        return RedirectResponse("/unlock", status_code=303)

    async def heartbeat(self, request: Request) -> Response:
        fields = await self.form(request)
        if fields is None:
            return PlainTextResponse("Forbidden", status_code=403)
        if fields.get("active") == "1":
            self.life.active()
        else:
            self.life.seen()
        return PlainTextResponse("locked" if self.state.locked else "ok")

    async def bye(self, request: Request) -> Response:
        if await self.form(request) is None:
            return PlainTextResponse("Forbidden", status_code=403)
        self.life.bye()
        return PlainTextResponse("bye")

    async def language(self, request: Request) -> Response:
        fields = await self.form(request)
        if fields is None:
            return PlainTextResponse("Forbidden", status_code=403)
        chosen = fields.get("lang", "")
        back = fields.get("back", "/")
        response = RedirectResponse(back if back.startswith("/") and not back.startswith("//") else "/",
                                    status_code=303)
        if chosen in i18n.LANGUAGES:
            response.set_cookie(LANG_COOKIE, chosen, httponly=True, samesite="strict", path="/")
        return response

    async def help(self, request: Request) -> Response:
        return self.render(request, "help.html")

    async def watch(self) -> None:
        """Lock after idle time, end when the page is gone, and list the cases again every so often."""
        next_refresh = self.settings.clock() + self.settings.refresh_seconds
        next_team = self.settings.clock() + TEAM_REFRESH_SECONDS
        while not self.ended.is_set():
            await asyncio.sleep(0.5)
            if self.life.should_end():
                self.ended.set()
                break
            if not self.state.locked and self.life.should_lock():
                await self.state.lock()
            if not self.state.locked and self.settings.clock() >= next_refresh:
                now = self.settings.clock()
                team, next_refresh = now >= next_team, now + self.settings.refresh_seconds
                if team:
                    next_team = now + TEAM_REFRESH_SECONDS
                started = self.settings.clock()
                with contextlib.suppress(DeskLocked):
                    await self.state.reload(team=team)
                # A big list takes seconds of work to verify and decrypt: never spend more than a fifth
                # of the time listing again.
                next_refresh = max(next_refresh, started + LISTING_SHARE * (self.settings.clock() - started))

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(self.watch())
        try:
            yield
        finally:
            self.ended.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- pages ----------------------------------------------------------------------------------

    async def ensure_loaded(self) -> None:
        """The inbox's first screen: wait for the first batch of cases, not the whole list."""
        await self.state.first_screen()

    def _inbox_context(self, request: Request) -> dict[str, Any]:
        filters = Filters.from_query(request.query_params)
        rows = list(self.state.rows.values())
        now = int(self.settings.wall())
        matching = select(rows, filters, self.state.me, now, self.state.seen)
        shown = matching[:MAX_ROWS]
        return {"filters": filters, "shown": shown, "matching": len(matching), "total": len(rows),
                "loading": not self.state.loaded,
                "choices": choices(rows), "ages": AGES, "sorts": SORTS, "now": now, "seen": self.state.seen,
                "problem": self.state.refresh_problem,
                "query": urlencode({k: v for k, v in request.query_params.items()}),
                "offers": [m for m in self.state.members if m.active and m.cannot_read > 0 and m.name != self.state.me]}

    async def inbox(self, request: Request) -> Response:
        await self.ensure_loaded()
        return self.render(request, "inbox.html", **self._inbox_context(request))

    async def rows(self, request: Request) -> Response:
        """The inbox's table body alone: the page asks for it every few seconds (new cases without a reload)."""
        self.life.seen()
        response = self.render(request, "rows.html", **self._inbox_context(request))
        response.headers["X-Desk-Loading"] = "0" if self.state.loaded else "1"  # the page reloads once when done
        return response

    async def case(self, request: Request) -> Response:
        case_id = request.path_params["case_id"]
        try:
            detail = await self.state.call(lambda d: d.detail(case_id))
        except StaffError as err:
            self.flash = str(err)
            return RedirectResponse("/", status_code=303)
        followups = sum(1 for e in detail.events if e.event.kind.value == "follow_up")
        self.state.seen.shown(detail.view.case.id, followups)
        return self._case_page(request, detail)

    def _case_page(self, request: Request, detail: CaseDetail, **extra: Any) -> HTMLResponse:
        case = detail.view.case
        assignable = [m.name for m in self.state.members if m.active and case.queue in m.queues]
        return self.render(request, "case.html", detail=detail, answers=_answers(detail.view.request),
                           tags=sorted(fold_tags(detail.events)), assignable=assignable,
                           **{"preview": None, "draft": "", "note": "", **extra})

    async def act(self, request: Request) -> Response:
        case_id, action = request.path_params["case_id"], request.path_params["action"]
        fields = await self.form(request)
        if fields is None:
            return PlainTextResponse("Forbidden", status_code=403)
        handler = self._actions().get(action)
        if handler is None:
            return PlainTextResponse("Not Found", status_code=404)
        try:
            response = await handler(request, case_id, fields)
        except StaffError as err:
            self.flash = str(err)
            return RedirectResponse(f"/case/{case_id}", status_code=303)
        return response

    def _actions(self) -> dict[str, Action]:
        return {"claim": self._change(lambda d, c: d.claim(c)), "take-over": self._change(lambda d, c: d.take_over(c)),
                "close": self._change(lambda d, c: d.close(c)), "reopen": self._change(lambda d, c: d.reopen(c)),
                "note": self._note, "preview": self._preview, "reply": self._reply, **self.more_actions}

    def _change(self, work: Callable[[Desk, str], object]) -> Action:
        async def change(request: Request, case_id: str, _fields: dict[str, str]) -> Response:
            await self.state.call(lambda d: work(d, case_id))
            self.flash = self.tr(request, "Done.")
            await self.state.reload()
            return RedirectResponse(f"/case/{case_id}", status_code=303)
        return change

    async def _note(self, request: Request, case_id: str, fields: dict[str, str]) -> Response:
        text = fields.get("text", "")
        await self.state.call(lambda d: d.note(case_id, text))
        self.flash = self.tr(request, "Note added.")
        return RedirectResponse(f"/case/{case_id}#history", status_code=303)

    async def _preview(self, request: Request, case_id: str, fields: dict[str, str]) -> Response:
        detail = await self.state.call(lambda d: d.detail(case_id))
        shown = preview(fields.get("text", ""), detail.view.request, self.settings.notice)
        return self._case_page(request, detail, preview=shown, draft=fields.get("text", ""))

    async def _reply(self, request: Request, case_id: str, fields: dict[str, str]) -> Response:
        text = fields.get("text", "")
        await self.state.call(lambda d: d.reply(case_id, text))
        self.flash = self.tr(request, "Reply queued: the bot will deliver it.")
        return RedirectResponse(f"/case/{case_id}#history", status_code=303)

    async def refresh(self, request: Request) -> Response:
        """List the cases and colleagues again now (the desk also does so every refresh_seconds)."""
        if await self.form(request) is None:
            return PlainTextResponse("Forbidden", status_code=403)
        await self.state.reload(team=True)
        return RedirectResponse("/", status_code=303)

    async def grant(self, request: Request) -> Response:
        fields = await self.form(request)
        if fields is None:
            return PlainTextResponse("Forbidden", status_code=403)
        name = fields.get("name", "")
        queue = fields.get("queue") or None
        try:
            outcome = await self.state.call(lambda d: d.grant(name, queue))
        except StaffError as err:
            self.flash = str(err)
        else:
            await self.state.reload(team=True)
            self.flash = self.ntr(request, "Granted %(num)s open case.", "Granted %(num)s open cases.",
                                  len(outcome.granted))
        return RedirectResponse(fields.get("back", "/") if fields.get("back", "/").startswith("/") else "/",
                                status_code=303)


def _answers(request: dict[str, Any] | None) -> list[tuple[str, str]]:
    answers = request.get("answers") if request is not None else None
    if not isinstance(answers, dict):
        return []
    return [(str(k), "" if v is None else str(v)) for k, v in answers.items()]
