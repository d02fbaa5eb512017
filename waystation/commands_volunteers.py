"""`waystation volunteers`: invite, list, change and remove the volunteers who get content-free alerts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import click

from crypto.roster import Role
from storage.alerts import AlertStore
from storage.daytime import QuietHours
from storage.server import Server
from storage.volunteers import (
    Removal,
    Settings,
    Volunteer,
    VolunteerStore,
    hash_code,
    new_invite_code,
    normalise_code,
)
from waystation.common import (
    home_option,
    json_option,
    now,
    open_server,
    print_json,
    unlock,
)

HOUR = 3600
admin_option = click.option("--admin", "admin_key", required=True, type=click.Path(path_type=Path, dir_okay=False),
                            help="Your private key file: an active admin on the roster.")
queue_option = click.option("--queue", "queues", multiple=True,
                            help="Queue whose alerts this volunteer gets (repeatable; default: queues.default).")
tier_option = click.option("--tier", type=click.IntRange(1, 2), default=None,
                           help="1: alerted first (default); 2: reached when a case escalates.")
quiet_option = click.option("--quiet", default=None, metavar="HH:MM-HH:MM",
                            help="Daily quiet hours in --tz (only the most urgent alerts come then); 'off' clears.")
tz_option = click.option("--tz", "timezone", default=None, metavar="ZONE",
                         help="The volunteer's time zone for quiet hours, e.g. Europe/Berlin (default UTC).")
label_option = click.option("--label", default=None,
                            help="A short pseudonym or initials, shown only by 'volunteers list' (no full names).")


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _quiet(text: str | None, timezone: str | None, current: QuietHours | None) -> QuietHours | None:
    if text is not None and text.strip().lower() in ("off", "none", ""):
        return None
    if text is not None:
        return QuietHours.parse(text, timezone or (current.timezone if current else "UTC"))
    if timezone is not None and current is not None:
        return replace(current, timezone=timezone)
    if timezone is not None:
        raise click.UsageError("--tz applies to quiet hours: give --quiet too")
    return current


def require_admin(server: Server, admin_key: Path, t: int, purpose: str = "invite volunteers") -> str:
    """Unlock the key and check it is an active admin on the verified roster; returns the admin's name."""
    admin = unlock(admin_key)
    member = server.roster(t).by_verify_key(admin.signing_key.verify_key)
    if member is None or member.role is not Role.ADMIN or not member.active(t):
        raise click.ClickException(
            f"{admin_key.name} is not an active admin on the roster: only admins {purpose}"
        )
    return member.name


@click.group()
def volunteers() -> None:
    """Volunteers: people who get content-free alerts in Telegram (docs/alerts.md)."""


@volunteers.command("invite")
@home_option
@admin_option
@queue_option
@tier_option
@quiet_option
@tz_option
@label_option
@click.option("--admin-notices", is_flag=True, help="Also send this volunteer the admin notices "
              "(closed cases about to be purged, cases waiting too long).")
@click.option("--valid-hours", type=click.IntRange(1, 720), default=None,
              help="Hours the code stays valid (default: alerts.invite_valid_hours).")
@json_option
def volunteers_invite(home: Path, admin_key: Path, queues: tuple[str, ...], tier: int | None, quiet: str | None,
                      timezone: str | None, label: str | None, admin_notices: bool, valid_hours: int | None,
                      as_json: bool) -> None:
    """Make a one-time code; the volunteer sends '/volunteer CODE' to the bot from their own account."""
    with open_server(home) as server:
        t = now()
        admin = require_admin(server, admin_key, t)
        settings = Settings(tuple(dict.fromkeys(queues)) or (server.config.queues.default,), tier or 1, label or "",
                            admin_notices, _quiet(quiet, timezone, None))
        code = new_invite_code()
        expires = t + (valid_hours or server.config.alerts.invite_valid_hours) * HOUR
        VolunteerStore(server.db).create_invite(hash_code(normalise_code(code) or "", server.pepper()),
                                                settings, admin, t, expires)
    if as_json:
        print_json({"code": code, "queues": list(settings.queues), "tier": settings.tier, "expires": expires})
        return
    click.echo(f"invitation code: {code}")
    click.echo(f"valid until {_date(expires)}, once, for queues {', '.join(settings.queues)} (tier {settings.tier})")
    click.echo(f"the volunteer sends to the bot, from their own Telegram account:  /volunteer {code}")
    click.echo("pass the code on privately (in person or by an end-to-end encrypted messenger)")


def _volunteer_json(v: Volunteer) -> dict[str, object]:
    return {"id": v.id, "label": v.label, "queues": list(v.queues), "tier": v.tier, "active": v.active,
            "inactive_reason": v.inactive_reason, "removed": v.removed, "admin_notices": v.admin_notices,
            "language": v.language,
            "quiet": None if v.quiet is None else str(v.quiet), "enrolled_at": v.enrolled_at,
            "invited_by": v.invited_by}


@volunteers.command("list")
@home_option
@json_option
def volunteers_list(home: Path, as_json: bool) -> None:
    """Volunteers with their queues, tier, state and quiet hours; unused invitations; undelivered messages."""
    with open_server(home) as server:
        t = now()
        store = VolunteerStore(server.db)
        people, invites = store.list(), store.pending_invites(t)
        counts = AlertStore(server.db).counts()
        hours = server.config.alerts.delete_after_hours
    if as_json:
        print_json({"volunteers": [_volunteer_json(v) for v in people],
                    "invites": [{"queues": list(i.queues), "invited_by": i.invited_by, "expires": i.expires_at}
                                for i in invites],
                    "messages": counts})
        return
    if not people:
        click.echo("no volunteers yet: 'waystation volunteers invite' makes a code")
    else:
        click.echo(f"{'id':>4}  {'label':<12} {'queues':<18} {'tier':<4} {'state':<16} {'notices':<7} quiet hours")
    for v in people:
        state = "active" if v.active else "removed, clearing" if v.removed else f"inactive ({v.inactive_reason or '-'})"
        click.echo(f"{v.id:>4}  {v.label or '-':<12} {','.join(v.queues) or '-':<18} {v.tier:<4} {state:<16} "
                   f"{'yes' if v.admin_notices else 'no':<7} {v.quiet or '-'}")
    if any(v.removed for v in people):
        click.echo("removed volunteers get nothing more; the bot keeps their chat id only until it has edited and "
                   f"deleted their messages (within {hours} hours), then forgets them")
    for invite in invites:
        click.echo(f"unused invitation by {invite.invited_by} for {','.join(invite.queues)}, "
                   f"valid until {_date(invite.expires_at)}")
    if counts.get("pending") or counts.get("failed"):
        click.echo(f"messages to volunteers: {counts.get('pending', 0)} waiting,"
                   f" {counts.get('failed', 0)} undeliverable")


@volunteers.command("set")
@home_option
@click.argument("volunteer_id", type=int)
@queue_option
@tier_option
@quiet_option
@tz_option
@label_option
@click.option("--admin-notices/--no-admin-notices", default=None, help="Receive the admin notices, or stop.")
@click.option("--active/--inactive", default=None, help="Resume or pause alerts (a blocked bot also pauses them).")
@click.option("--language", type=click.Choice(["en", "ru", "uk", "ar", "fa", "es", "fr"]), default=None,
              help="Language of their alerts (default: their Telegram language).")
def volunteers_set(home: Path, volunteer_id: int, queues: tuple[str, ...], tier: int | None, quiet: str | None,
                   timezone: str | None, label: str | None, admin_notices: bool | None, active: bool | None,
                   language: str | None) -> None:
    """Change a volunteer's queues, tier, quiet hours, label or notices; pause or resume them."""
    with open_server(home) as server:
        store = VolunteerStore(server.db)
        current = store.get(volunteer_id)
        settings = Settings(tuple(dict.fromkeys(queues)) or current.queues, tier or current.tier,
                            current.label if label is None else label,
                            current.admin_notices if admin_notices is None else admin_notices,
                            _quiet(quiet, timezone, current.quiet))
        updated = store.update(volunteer_id, settings, language=language, active=active, actor="cli", now=now())
    state = "active" if updated.active else "inactive"
    click.echo(f"volunteer {updated.id}: {','.join(updated.queues) or '-'}, tier {updated.tier}, {state}, "
               f"quiet hours {updated.quiet or 'none'}")


@volunteers.command("remove")
@home_option
@click.argument("volunteer_id", type=int, required=False)
@click.option("--unused-invites", is_flag=True, help="Withdraw every invitation code not used yet.")
def volunteers_remove(home: Path, volunteer_id: int | None, unused_invites: bool) -> None:
    """Remove a volunteer (by the id 'volunteers list' shows), or withdraw unused invitations.

    A removed volunteer gets nothing more at once; their chat id is kept only until the bot has
    edited and deleted the alerts still in their chat, then they are forgotten.
    """
    if volunteer_id is None and not unused_invites:
        raise click.UsageError("give a volunteer id (see 'waystation volunteers list') or --unused-invites")
    with open_server(home) as server:
        store = VolunteerStore(server.db)
        hours = server.config.alerts.delete_after_hours
        if volunteer_id is not None:
            removal = store.remove(volunteer_id, actor="cli", now=now())
            if removal is Removal.ALREADY:
                click.echo(f"volunteer {volunteer_id} was already removed; they are forgotten once their chat's "
                           "messages are deleted")
            elif removal is Removal.ERASED:
                click.echo(f"volunteer {volunteer_id} removed; they get no more alerts. Nothing of theirs was left "
                           "in their chat: forgotten now")
            else:
                click.echo(f"volunteer {volunteer_id} removed; they get no more alerts. The bot still edits the "
                           f"alerts in their chat when cases are taken and deletes them (within {hours} hours), "
                           "then forgets the volunteer")
        if unused_invites:
            click.echo(f"{store.drop_invites(actor='cli', now=now())} unused invitations withdrawn")
