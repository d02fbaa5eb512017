"""The bot token: from WAYSTATION_BOT_TOKEN, a systemd credential, or HOME/secrets/bot_token."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from bot.errors import TokenMissing

TOKEN_ENV = "WAYSTATION_BOT_TOKEN"
TOKEN_CREDENTIAL = "waystation-bot-token"
_SHAPE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{30,64}$")


def load_token(secrets_dir: Path, environ: Mapping[str, str] = os.environ) -> str:
    """The token, checked for shape; never printed or logged."""
    return find_token(secrets_dir, environ)[0]


def find_token(secrets_dir: Path, environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """The token and where it was read (the variable's name or the file's path), for messages that name the source."""
    candidates: list[tuple[str, str | None]] = [(TOKEN_ENV, environ.get(TOKEN_ENV))]
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    for path in ([Path(credentials) / TOKEN_CREDENTIAL] if credentials else []) + [secrets_dir / "bot_token"]:
        try:
            candidates.append((str(path), path.read_text(encoding="ascii").strip()))
        except (FileNotFoundError, UnicodeDecodeError):
            continue
    for where, value in candidates:
        if value:
            if not _SHAPE.fullmatch(value.strip()):
                raise TokenMissing(f"the bot token in {where} does not look like a Bot API token")
            return value.strip(), where
    raise TokenMissing(f"no bot token: set {TOKEN_ENV} or write it to {secrets_dir / 'bot_token'} (mode 0600)")
