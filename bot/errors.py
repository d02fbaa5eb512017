"""Typed errors of the bot package."""

from __future__ import annotations


class BotError(Exception):
    """Root of every error raised by the bot package."""


class FormInvalid(BotError, ValueError):
    """The intake form file is malformed."""


class TokenMissing(BotError, LookupError):
    """No bot token was found where it is looked for."""
