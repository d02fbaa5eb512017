"""`waystation entry`: the codes that open the intake in cover mode (docs/cover.md)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import segno

from storage.entry import MAX_USES, MAX_VALID_DAYS, EntryStore, hash_entry_code, new_entry_code
from waystation.commands_volunteers import admin_option, require_admin
from waystation.common import home_option, json_option, now, open_server, print_json

DEFAULT_VALID_DAYS = 30


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def entry_link(bot_username: str, code: str) -> str:
    """The deep link that opens the intake: Telegram sends '/start <code>' when the person presses Start."""
    return f"https://t.me/{bot_username.removeprefix('@')}?start={code}"


@click.group()
def entry() -> None:
    """Entry codes: in cover mode, the intake opens only through a link with one (docs/cover.md)."""


@entry.command("new")
@home_option
@admin_option
@click.option("--uses", type=click.IntRange(1, MAX_USES), default=1, show_default=True,
              help="How many people can open the intake with this code.")
@click.option("--valid-days", type=click.IntRange(1, MAX_VALID_DAYS), default=DEFAULT_VALID_DAYS, show_default=True,
              help="Days the code stays valid.")
@click.option("--queue", default=None, help="Queue that requests opened with this code go to (default: routing).")
@click.option("--no-qr", is_flag=True, help="Do not print the link's QR code.")
@json_option
def entry_new(home: Path, admin_key: Path, uses: int, valid_days: int, queue: str | None, no_qr: bool,
              as_json: bool) -> None:
    """Mint an entry code (admins only); only its keyed hash is stored, so note it now."""
    with open_server(home) as server:
        t = now()
        admin = require_admin(server, admin_key, t, "mint entry codes")
        code = new_entry_code()
        store = EntryStore(server.db)
        entry_id = store.create(hash_entry_code(code, server.pepper()), queue=queue, uses=uses,
                                valid_days=valid_days, created_by=admin, now=t)
        expires = next(e.expires_at for e in store.list(t) if e.id == entry_id)
        username = server.config.cover.bot_username
        enabled = server.config.cover.enabled
    link = entry_link(username, code) if username else None
    if as_json:
        print_json({"id": entry_id, "code": code, "link": link, "uses": uses, "queue": queue, "expires": expires})
        return
    click.echo(f"entry code {entry_id}: {code}")
    click.echo(f"valid until {_date(expires)}, for {uses} {'person' if uses == 1 else 'people'}"
               + (f", requests go to queue {queue}" if queue else ""))
    if link is None:
        click.echo("set [cover] bot_username in config.toml to get the t.me link and its QR code")
    else:
        click.echo(f"link: {link}")
        if not no_qr:
            segno.make(link, error="m", micro=False).terminal(out=sys.stdout, compact=True)
    if not enabled:
        click.echo("note: [cover] enabled is false, so the bot still opens the intake for anyone")
    click.echo("pass it on privately (in person, or by an end-to-end encrypted messenger); "
               "'waystation entry revoke' withdraws it")


@entry.command("list")
@home_option
@json_option
def entry_list(home: Path, as_json: bool) -> None:
    """Entry codes still usable: id, queue, uses left, validity (the codes themselves are not kept)."""
    with open_server(home) as server:
        codes = EntryStore(server.db).list(now())
    if as_json:
        print_json([{"id": e.id, "queue": e.queue, "uses_left": e.uses_left, "created_by": e.created_by,
                     "expires": e.expires_at} for e in codes])
        return
    if not codes:
        click.echo("no usable entry codes: 'waystation entry new' mints one")
        return
    click.echo(f"{'id':>16}  {'queue':<16} {'uses left':>9}  {'by':<16} valid until")
    for e in codes:
        click.echo(f"{e.id:>16}  {e.queue or '(routing)':<16} {e.uses_left:>9}  {e.created_by:<16} "
                   f"{_date(e.expires_at)}")


@entry.command("revoke")
@home_option
@click.argument("entry_id", type=int, required=False)
@click.option("--all", "revoke_all", is_flag=True, help="Withdraw every entry code.")
def entry_revoke(home: Path, entry_id: int | None, revoke_all: bool) -> None:
    """Withdraw an entry code (by the id 'entry list' shows), or all of them; it opens nothing from now on.

    No admin key is needed: withdrawing only ever closes a door, and must be quick when a code leaks.
    """
    if (entry_id is None) == (not revoke_all):
        raise click.UsageError("give one entry id (see 'waystation entry list') or --all")
    with open_server(home) as server:
        store = EntryStore(server.db)
        if entry_id is not None:
            store.revoke(entry_id, actor="cli", now=now())
            click.echo(f"entry code {entry_id} revoked")
        else:
            click.echo(f"{store.revoke_all(actor='cli', now=now())} entry codes revoked")
