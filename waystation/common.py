"""Helpers shared by CLI commands: passphrases, key files, errors, clock, output."""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.errors import BotError
from crypto.errors import CryptoError, PassphraseRejected
from crypto.keys import Identity, identity_is_locked, load_identity
from staff.errors import StaffError
from storage.db import DatabaseError, database_failure
from storage.errors import StorageError
from storage.failures import describe_error
from storage.server import Server

PASSPHRASE_ENV = "WAYSTATION_PASSPHRASE"
F = TypeVar("F", bound=Callable[..., Any])

home_option = click.option(
    "--home", "home", required=True, type=click.Path(path_type=Path, file_okay=False),
    help="Server home directory (made by 'waystation init').",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")

USER_ERRORS: tuple[type[BaseException], ...] = (CryptoError, StorageError, StaffError, BotError)


# What a person can do about a failed file operation, by errno.
OS_FIXES: dict[int, str] = {
    errno.ENOSPC: "free space on that file system ('df -h') and run the command again",
    errno.EDQUOT: "free space within the disk quota and run the command again",
    errno.ENOENT: "check the path (and --home); restore the file from a backup if it should be there",
    errno.EACCES: "run the command as the user that owns the home, or fix the file's owner and mode",
    errno.EPERM: "run the command as the user that owns the home, or fix the file's owner and mode",
    errno.EROFS: "the file system is mounted read-only: remount it read-write",
    errno.EIO: "the disk reported an I/O error: check it ('dmesg') before anything else",
}


def os_error_line(err: OSError) -> str:
    """One line for a failed file operation: what failed, where, and what to do."""
    where = f": {err.filename}" if err.filename else ""
    fix = OS_FIXES.get(err.errno or 0)
    return f"{err.strerror or type(err).__name__}{where}" + (f"; {fix}" if fix else "")


class FriendlyGroup(click.Group):
    """A click group that turns every failure into one `Error:` line and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise
        except USER_ERRORS as err:
            raise click.ClickException(str(err)) from err
        except DatabaseError as err:  # met while using an opened database: full disk, damaged page, lock
            raise click.ClickException(str(database_failure(err))) from err
        except OSError as err:
            raise click.ClickException(os_error_line(err)) from err
        except Exception as err:  # noqa: BLE001 - a bug: where it is, never its message (which may quote data)
            raise click.ClickException(f"internal error ({describe_error(err)}); nothing more is shown because "
                                       "an error message can quote private data: please report this line") from err


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
