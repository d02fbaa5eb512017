"""A local sandbox messenger: a fake Telegram Bot API plus a web chat page."""

from __future__ import annotations

from sandbox.app import create_app
from sandbox.errors import (
    BindFailed,
    BotApiError,
    ControlError,
    SandboxError,
    SettingsRejected,
)
from sandbox.server import serve
from sandbox.settings import SandboxSettings

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
