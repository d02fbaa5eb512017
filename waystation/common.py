"""Helpers shared by CLI commands: passphrases, key files, errors, clock, output."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from crypto.errors import CryptoError, PassphraseRejected
from crypto.keys import Identity, identity_is_locked, load_identity
from bot.errors import BotError
from staff.errors import StaffError
from storage.errors import StorageError
from storage.server import Server

PASSPHRASE_ENV = "WAYSTATION_PASSPHRASE"
F = TypeVar("F", bound=Callable[..., Any])

home_option = click.option(
    "--home", "home", required=True, type=click.Path(path_type=Path, file_okay=False),
    help="Server home directory (made by 'waystation init').",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")

USER_ERRORS: tuple[type[BaseException], ...] = (CryptoError, StorageError, StaffError, BotError)


class FriendlyGroup(click.Group):
    """A click group that turns our typed errors into one line and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as err:
            raise click.ClickException(str(err)) from err
        except OSError as err:
            where = f": {err.filename}" if err.filename else ""
            raise click.ClickException(f"{err.strerror or err}{where}") from err


def now() -> int:
    """The current time in whole seconds."""
    return int(time.time())


def get_passphrase(prompt: str, confirm: bool = False) -> bytes:
    """The passphrase from WAYSTATION_PASSPHRASE, or from the terminal."""
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value.encode("utf-8")
    if not sys.stdin.isatty():
        raise click.ClickException(f"no terminal to ask for the passphrase: set {PASSPHRASE_ENV}")
    text = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
    if not text:
        raise click.ClickException("an empty passphrase is not allowed")
    return str(text).encode("utf-8")


def unlock(path: Path) -> Identity:
    """Read and unlock a private key file, asking for its passphrase once."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise click.ClickException(f"no key file at {path}") from err
    passphrase = get_passphrase(f"Passphrase for {path.name}") if identity_is_locked(data) else None
    try:
        return load_identity(data, passphrase)
    except PassphraseRejected as err:
        raise click.ClickException(f"{path.name}: {err}") from err


def open_server(home: Path) -> Server:
    """Open a server home (config, database)."""
    return Server.open(home)


def print_json(obj: object) -> None:
    """Print one JSON document."""
    click.echo(json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True))
