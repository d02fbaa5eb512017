"""A faulty gateway between the bot and the sandbox: it forwards every Bot API call and fails chosen ones.

The sandbox answers like Telegram when things go right; a network or Telegram itself can also
fail a call in ways the sandbox never does (a 502 from a proxy, a 400 whose description quotes
the text that was sent, as "can't parse entities" does). The bot talks real HTTP to this
gateway, which talks real HTTP to the sandbox; nothing of ours is replaced.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.bot.harness import free_port, wait_until

HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding"}


@dataclass
class Fault:
    """Fail calls of one Bot API `method` (lower case), optionally only those whose body holds `needle`."""

    method: str
    status: int
    needle: bytes | None = None
    #: The error description quotes the request body, as some of Telegram's do.
    echo: bool = False


@dataclass
class Gateway:
    """Forwards /bot<TOKEN>/<method> to `upstream`; `faults` may change while it runs."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    @property
    def bot_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def _fault(self, method: str, body: bytes) -> Fault | None:
        for fault in list(self.faults):
            if fault.method == method and (fault.needle is None or fault.needle in body):
                return fault
        return None

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        method = request.url.path.rsplit("/", 1)[-1].lower()
        fault = self._fault(method, body)
        if fault is not None:
            self.failed.append(method)
            description = "Bad Gateway"
            if fault.echo:
                description = "Bad Request: can't parse entities: " + body.decode("utf-8", "replace")
            return Response(json.dumps({"ok": False, "error_code": fault.status, "description": description}),
                            status_code=fault.status, media_type="application/json")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with httpx.AsyncClient(timeout=120) as client:
            answer = await client.request(request.method, self.upstream + request.url.path,
                                          params=request.query_params, content=body, headers=headers)
        return Response(answer.content, status_code=answer.status_code,
                        media_type=answer.headers.get("content-type"))

    def start(self) -> Gateway:
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["GET", "POST"])])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     access_log=False, lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_until(lambda: self._server.started, 10, what="the gateway to start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
