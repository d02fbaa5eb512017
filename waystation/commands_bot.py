"""`waystation bot`: run the intake bot."""

from __future__ import annotations

from pathlib import Path

import click

from waystation.common import home_option


@click.group()
def bot() -> None:
    """The Telegram intake bot."""


@bot.command("run")
@home_option
def bot_run(home: Path) -> None:
    """Run the bot and its ASGI server until SIGINT/SIGTERM (token from secrets/bot_token or WAYSTATION_BOT_TOKEN)."""
    from waystation.service import run

    run(home)
