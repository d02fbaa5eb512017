"""`waystation staff desk`: the caseworkers' web desk (staff.web), on 127.0.0.1, over the same Desk as the CLI."""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from pathlib import Path

import click

from bot import texts
from bot.i18n import LANGUAGES, Translations
from crypto.keys import identity_is_locked, load_identity
from staff.desk import Desk
from staff.web.life import DEFAULT_IDLE_LOCK_MINUTES
from staff.web.preview import Notice
from waystation.commands_staff import _opener, _options, _target, _unlock, staff


def bot_notice() -> Callable[[str], Notice]:
    """The bot's own notice texts (bot/texts.py, bot/locale): the reply preview shows exactly these."""
    translations = Translations.load()

    def notice(language: str) -> Notice:
        code = language if language in LANGUAGES else "en"
        return Notice(code, LANGUAGES[code], translations.gettext(code, texts.NEW_MESSAGE),
                      translations.gettext(code, texts.BUTTON_SHOW))

    return notice


@staff.command("desk")
@_options
@click.option("--no-browser", is_flag=True, help="Print the address instead of opening the browser.")
@click.option("--idle-lock", type=click.FloatRange(min=1), default=DEFAULT_IDLE_LOCK_MINUTES, show_default=True,
              metavar="MINUTES", help="Lock (drop the key from memory) after this many minutes without use.")
@click.pass_context
def staff_desk(ctx: click.Context, home: Path | None, key: Path | None, server: str | None, no_browser: bool,
               idle_lock: float) -> None:
    """The desk in your web browser: inbox, cases, replies; on this computer only, ended by closing the page."""
    from staff.tui.desk import DeskThread
    from staff.web.serve import run
    from staff.web.state import DeskState

    target = _target(ctx, home, key, server)
    if target.key is None:
        raise click.UsageError("--key is required")
    key_file = target.key.read_bytes() if target.key.is_file() else b""
    identity = _unlock(target)

    def unlocker(passphrase: bytes) -> Callable[[], Desk]:
        # Unlocking again in the page: the key file as read at start, and the passphrase typed there.
        again = load_identity(key_file, passphrase if identity_is_locked(key_file) else None)
        return _opener(target, again, inbox=True)

    state = DeskState(unlocker)
    thread = DeskThread(_opener(target, identity, inbox=True))
    del identity  # the desk's thread holds the key from here on, and drops it when it locks
    state.adopt(thread)
    if thread.desk.greeting:
        click.echo(thread.desk.greeting, err=True)

    def announce(url: str) -> None:
        click.echo("The desk is open at this address (it works once, in one browser):")
        click.echo(url)
        click.echo("Close the page or press Ctrl+C here to end it.")
        if not no_browser:
            webbrowser.open(url)

    run(state, bot_notice(), idle_lock * 60.0, announce)
    click.echo("The desk has ended.")

