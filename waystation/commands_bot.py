"""`waystation bot`: run the intake bot, show its fingerprint."""

from __future__ import annotations

from pathlib import Path

import click

from bot.errors import TokenRefused
from crypto.errors import CryptoError
from crypto.keys import dump_public, load_identity
from storage.errors import HomeInvalid, SecretsExposed
from storage.files import write_new
from storage.home import Home
from storage.keyring import load_previous_bot_keys
from waystation.common import home_option

#: Exit status of a start refused for something only a person can fix (sysexits' EX_CONFIG): the
#: systemd unit does not restart on it (RestartPreventExitStatus=78), where a restart would only
#: repeat the refusal (and, for a refused token, keep knocking at Telegram with it).
EXIT_CONFIG = 78


class ConfigRefused(click.ClickException):
    """One `Error:` line, exit status 78."""

    exit_code = EXIT_CONFIG


@click.group()
def bot() -> None:
    """The Telegram intake bot."""


@bot.command("run")
@home_option
def bot_run(home: Path) -> None:
    """Run the bot and its ASGI server until SIGINT/SIGTERM (token from secrets/bot_token or WAYSTATION_BOT_TOKEN)."""
    from waystation.service import run

    try:
        run(home)
    except (TokenRefused, SecretsExposed) as err:
        raise ConfigRefused(str(err)) from None


@bot.command("fingerprint")
@home_option
@click.option("--pub-out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the bot's public key to this new file, for caseworkers to pin.")
def bot_fingerprint(home: Path, pub_out: Path | None) -> None:
    """Print the bot key's fingerprint, the one caseworkers compare at first contact (no database needed)."""
    target = Home(home).require()
    try:
        identity = load_identity(target.bot_identity_path.read_bytes(), None)
    except (OSError, CryptoError) as err:
        raise HomeInvalid(f"{target.bot_identity_path} is missing or damaged: restore it from a backup") from err
    if pub_out is not None and pub_out.exists():
        raise click.ClickException(f"{pub_out} already exists: choose a new file name")
    click.echo(f"bot key {identity.public.fingerprint()}")
    retired = load_previous_bot_keys(target)
    if retired:
        click.echo(f"earlier bot keys still trusted for old cases: {len(retired)} (secrets/previous_bot_keys)")
    if pub_out is not None:
        write_new(pub_out, dump_public(identity.public), 0o644)
        click.echo(f"bot public key written to {pub_out}")
