"""Refusals of the staff API: an HTTP status, a stable code and one safe sentence."""

from __future__ import annotations

from starlette.responses import JSONResponse

from staff.errors import StaffError

NOT_FOUND_MESSAGE = "no such case in your queues"


class ApiRefused(StaffError):
    """A request the staff API answers with an error; the message never carries content."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    def response(self) -> JSONResponse:
        """The JSON error document: {"error": code, "message": text}."""
        return JSONResponse({"error": self.code, "message": str(self)}, status_code=self.status)


class Unauthenticated(ApiRefused):
    """401: unsigned, bad or stale signature, replay, unknown, revoked or expired key."""

    status = 401
    code = "signature_invalid"


class Forbidden(ApiRefused):
    """403: a known, active key whose role or queues do not allow this."""

    status = 403
    code = "forbidden"


class CaseHidden(ApiRefused):
    """404: the case does not exist *or* is in a queue the caller may not see; the same words either way."""

    status = 404
    code = "not_found"

    def __init__(self) -> None:
        super().__init__(NOT_FOUND_MESSAGE)


class Conflict(ApiRefused):
    """409: the case's status does not allow this change (already claimed, already closed...)."""

    status = 409
    code = "conflict"


class BodyTooLarge(ApiRefused):
    """413: the body is over the limit; it was not read further."""

    status = 413
    code = "too_large"


class BodyInvalid(ApiRefused):
    """422: malformed JSON, fields, base64 or envelopes; nothing was stored."""

    status = 422
    code = "invalid_body"


class Unavailable(ApiRefused):
    """503: the server cannot serve staff now (its roster does not verify)."""

    status = 503
    code = "unavailable"


class RateLimited(ApiRefused):
    """429: over the request budget (of the staff key named, or of the address for requests no key vouches for)."""

    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests: try again in {retry_after} s")
        self.retry_after = retry_after

    def response(self) -> JSONResponse:
        """The JSON error document, with Retry-After in whole seconds."""
        answer = super().response()
        answer.headers["Retry-After"] = str(self.retry_after)
        return answer
