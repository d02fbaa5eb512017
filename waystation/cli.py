"""Entry point: `waystation` and its subcommands."""

from __future__ import annotations

from pathlib import Path

import click

from sandbox.cli import sandbox_command
from storage.home import init_home
from waystation.commands_bot import bot
from waystation.commands_demo import demo
from waystation.commands_entry import entry
from waystation.commands_keys import keys
from waystation.commands_ops import (
    backup,
    doctor,
    restore,
    rotate_bot_key,
    rotate_db_key,
)
from waystation.commands_queue import queue, submit
from waystation.commands_roster import roster
from waystation.commands_staff import staff
from waystation.commands_volunteers import volunteers
from waystation.common import FriendlyGroup


@click.group(cls=FriendlyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="waystation")
def main() -> None:
    """Waystation: safe intake of requests for help, encrypted end to end to vetted caseworkers."""


@main.command()
@click.argument("home", type=click.Path(path_type=Path))
def init(home: Path) -> None:
    """Create a server home: config.toml, secrets/ and the encrypted database."""
    created = init_home(home)
    click.echo(f"created server home {created.root}")
    click.echo(f"next: create an admin key ('waystation keys new') and run 'waystation roster init --home {home}'")


main.add_command(keys)
main.add_command(roster)
main.add_command(submit)
main.add_command(queue)
main.add_command(staff)
main.add_command(demo)
main.add_command(bot)
main.add_command(sandbox_command)
main.add_command(volunteers)
main.add_command(entry)
main.add_command(doctor)
main.add_command(backup)
main.add_command(restore)
main.add_command(rotate_db_key)
main.add_command(rotate_bot_key)
