"""Typed errors of the bot package."""

from __future__ import annotations


class BotError(Exception):
    """Root of every error raised by the bot package."""


class FormInvalid(BotError, ValueError):
    """The intake form file is malformed."""


class TokenMissing(BotError, LookupError):
    """No bot token was found where it is looked for."""


class TokenRefused(BotError, PermissionError):
    """The Bot API refused the token (401 or 404): revoked, mistyped, or the wrong api_base_url."""


class ListenFailed(BotError, OSError):
    """The bot's HTTP listener (staff API, /healthz, /metrics, webhook) could not take its address."""
