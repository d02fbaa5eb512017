"""A local sandbox messenger: a fake Telegram Bot API plus a web chat page."""

from __future__ import annotations

from bot.sandbox.app import create_app
from bot.sandbox.errors import (
    BindFailed,
    BotApiError,
    ControlError,
    SandboxError,
    SettingsRejected,
)
from bot.sandbox.server import serve
from bot.sandbox.settings import SandboxSettings

__all__ = [
    "BindFailed",
    "BotApiError",
    "ControlError",
    "SandboxError",
    "SandboxSettings",
    "SettingsRejected",
    "create_app",
    "serve",
]
