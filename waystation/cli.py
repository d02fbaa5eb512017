"""Entry point: `waystation` and its subcommands."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from waystation.common import FriendlyGroup

#: Subcommands by name, as "module:attribute", imported only when used. `waystation` then starts
#: without importing every command's modules, and so do the staff client's worker processes,
#: which (started with "spawn") import this entry point again: about 0.15 s instead of 0.7 s each.
LAZY_COMMANDS: dict[str, str] = {
    "keys": "waystation.commands_keys:keys",
    "roster": "waystation.commands_roster:roster",
    "submit": "waystation.commands_queue:submit",
    "queue": "waystation.commands_queue:queue",
    "staff": "waystation.commands_staff:staff",
    "demo": "waystation.commands_demo:demo",
    "bot": "waystation.commands_bot:bot",
    "sandbox": "sandbox.cli:sandbox_command",
    "volunteers": "waystation.commands_volunteers:volunteers",
    "entry": "waystation.commands_entry:entry",
    "doctor": "waystation.commands_ops:doctor",
    "backup": "waystation.commands_ops:backup",
    "restore": "waystation.commands_ops:restore",
    "rotate-db-key": "waystation.commands_ops:rotate_db_key",
    "rotate-bot-key": "waystation.commands_ops:rotate_bot_key",
}


class LazyGroup(FriendlyGroup):
    """The top-level group: its LAZY_COMMANDS are imported when first asked for (click's lazy loading)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            module, _, attribute = LAZY_COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command) or command.name != cmd_name:
                raise RuntimeError(f"LAZY_COMMANDS names {LAZY_COMMANDS[cmd_name]} for '{cmd_name}', "
                                   "which is not that command")
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="waystation")
def main() -> None:
    """Waystation: safe intake of requests for help, encrypted end to end to vetted caseworkers."""


@main.command()
@click.argument("home", type=click.Path(path_type=Path))
def init(home: Path) -> None:
    """Create a server home: config.toml, secrets/ and the encrypted database."""
    from storage.home import init_home

    created = init_home(home)
    click.echo(f"created server home {created.root}")
    click.echo(f"next: create an admin key ('waystation keys new') and run 'waystation roster init --home {home}'")
