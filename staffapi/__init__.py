"""The staff API: Starlette routes for /api/v1/... and /openapi.json (contract: docs/staff-api.md).

Mounted by waystation/service.py in the bot's process and event loop:
`staff_api_routes(server, time.time)`. Handlers run on the event loop thread
(the SQLCipher connection belongs to it) and never await inside a
transaction, so two requests cannot interleave their writes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from staffapi import operations
from staffapi.auth import Authenticator
from staffapi.limits import Limits
from staffapi.openapi import document
from staffapi.operations import Call, Operation
from staffapi.problems import ApiRefused, RateLimited
from storage.failures import describe_error
from storage.server import Server

log = logging.getLogger("waystation.staff_api")

Endpoint = Callable[[Request], Awaitable[Response]]

ROUTES: tuple[tuple[str, str, Operation], ...] = (
    ("GET", "/api/v1/info", operations.info),
    ("GET", "/api/v1/cases", operations.list_cases),
    ("GET", "/api/v1/cases/{case_id}", operations.get_case),
    ("POST", "/api/v1/cases/{case_id}/claim", operations.claim),
    ("POST", "/api/v1/cases/{case_id}/take-over", operations.take_over),
    ("POST", "/api/v1/cases/{case_id}/notes", operations.add_note),
    ("POST", "/api/v1/cases/{case_id}/replies", operations.add_reply),
    ("POST", "/api/v1/cases/{case_id}/close", operations.close),
    ("POST", "/api/v1/cases/{case_id}/reopen", operations.reopen),
    ("GET", "/api/v1/cases/{case_id}/grants", operations.case_grants),
    ("POST", "/api/v1/cases/{case_id}/grants", operations.add_grant),
    ("GET", "/api/v1/grants", operations.my_grants),
    ("POST", "/api/v1/cases/{case_id}/assign", operations.assign),
    ("POST", "/api/v1/cases/{case_id}/tags", operations.add_tag),
    ("GET", "/api/v1/members", operations.members),
    ("GET", "/api/v1/stats", operations.case_times),
)


def _endpoint(server: Server, clock: Callable[[], float], gate: Authenticator, operation: Operation) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            caller, body = await gate.authenticate(request, int(clock()))
            status, answer = operation(Call(server, caller, request.path_params, request.query_params, body))
        except RateLimited as err:
            gate.limits.refused += 1  # summed up in one log line a minute, not one line per request
            return err.response()
        except ApiRefused as err:
            log.info("staff API %s %s refused: %d %s", request.method, operation.__name__, err.status, err.code)
            return err.response()
        except Exception as err:  # noqa: BLE001 - type and code frames only: a message could quote a body
            log.error("staff API %s failed: %s", operation.__name__, describe_error(err))
            return JSONResponse({"error": "internal", "message": "the server failed; see its log"}, status_code=500)
        return JSONResponse(answer, status_code=status)

    endpoint.__name__ = operation.__name__
    return endpoint


async def openapi_json(_: Request) -> Response:
    """The OpenAPI 3.1 document (public: it describes the API, not its data)."""
    return JSONResponse(document())


def staff_api_routes(server: Server, clock: Callable[[], float], limits: Limits | None = None) -> list[BaseRoute]:
    """Every route of the staff API over one opened server; `clock` gives seconds (time.time).

    `limits` are the request budgets; by default those of config.toml's [staff_api].
    """
    config = server.config.staff_api
    gate = Authenticator(server, limits or Limits.of(config.requests_per_minute, config.unverified_per_minute))
    routes: list[BaseRoute] = [Route(path, _endpoint(server, clock, gate, op), methods=[method])
                               for method, path, op in ROUTES]
    routes.append(Route("/openapi.json", openapi_json, methods=["GET"]))
    return routes
