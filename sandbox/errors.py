"""Typed errors of the sandbox messenger."""

from __future__ import annotations


class SandboxError(Exception):
    """Root of every error the sandbox raises on purpose."""


class SettingsRejected(SandboxError, ValueError):
    """A SandboxSettings value is out of range."""


class BindFailed(SandboxError, OSError):
    """The server could not listen on the requested address."""


class BotApiError(SandboxError):
    """A Bot API call failed; rendered once as Telegram's error JSON."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> dict[str, object]:
        """Return the body Telegram sends for this error."""
        body: dict[str, object] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> BotApiError:
    """Return a 400 error with Telegram's 'Bad Request: ' prefix."""
    return BotApiError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> BotApiError:
    """Return a 403 error with Telegram's 'Forbidden: ' prefix."""
    return BotApiError(403, f"Forbidden: {detail}")


def too_many_requests(retry_after: int) -> BotApiError:
    """Return a 429 error carrying retry_after like Telegram's flood control."""
    return BotApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)


UNAUTHORIZED = BotApiError(401, "Unauthorized")
NOT_FOUND = BotApiError(404, "Not Found")


class ControlError(SandboxError):
    """A control API call failed; rendered as {"error": ...} with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
