"""`waystation roster`: the signed list of vetted staff."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from crypto.keys import load_public
from crypto.roster import DAY, Member, Role, new_roster, sign_roster
from storage.errors import RosterUnavailable
from storage.rosterlife import Phase, Standing, expiring_members, renew, sign_edit
from waystation.common import (
    home_option,
    json_option,
    now,
    open_server,
    print_json,
    unlock,
)

admin_option = click.option("--admin", "admin_key", required=True,
                            type=click.Path(path_type=Path, dir_okay=False), help="The admin's private key file.")


@click.group()
def roster() -> None:
    """Create, change and check the signed staff roster."""


@roster.command("init")
@home_option
@admin_option
def roster_init(home: Path, admin_key: Path) -> None:
    """Start the roster with this admin as its first member and pin the admin key."""
    with open_server(home) as server:
        if server.home.roster_path.exists():
            raise click.ClickException("this home already has a roster: use 'roster add' or 'roster revoke'")
        admin = unlock(admin_key)
        t = now()
        draft = new_roster(admin.public, t, server.config.roster.valid_days, server.config.roster.member_days)
        server.save_roster(sign_roster(draft, admin), t, new_admins=[(admin.signing_key.verify_key, admin.name)])
    click.echo(f"roster created; admin {admin.name}, fingerprint {admin.public.fingerprint()}")


@roster.command("add")
@home_option
@admin_option
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--queue", "queues", multiple=True, help="Queue this person works on (repeatable).")
@click.option("--days", type=click.IntRange(1, 3650), default=None,
              help="Days until this member expires (default: roster.member_days in config).")
@click.argument("pubfile", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def roster_add(
    home: Path, admin_key: Path, role: str, queues: tuple[str, ...], days: int | None, pubfile: Path
) -> None:
    """Add a vetted person from their public key file. Compare the printed fingerprint with them first."""
    public = load_public(pubfile.read_bytes())
    with open_server(home) as server:
        admin = unlock(admin_key)
        t = now()
        member_days = days or server.config.roster.member_days
        member = Member(public, Role(role), tuple(dict.fromkeys(queues)), t, t + member_days * DAY)
        pins = [(public.verify_key, public.name)] if member.role is Role.ADMIN else []
        # Works on an expired roster too: any edit re-signs it with a fresh expiry.
        sign_edit(server, admin, t, lambda current: current.with_member(member, t, server.config.roster.valid_days),
                  new_admins=pins)
    click.echo(f"added {public.name} as {role}; fingerprint {public.fingerprint()}")
    click.echo("make sure this fingerprint matches the one the person reads to you")


@roster.command("revoke")
@home_option
@admin_option
@click.argument("name")
def roster_revoke(home: Path, admin_key: Path, name: str) -> None:
    """Revoke a member: no new case is encrypted to them and their requests are refused."""
    with open_server(home) as server:
        admin = unlock(admin_key)
        t = now()
        # A revocation must never wait for a renewal: it works on an expired roster too.
        updated = sign_edit(server, admin, t, lambda current: current.with_revoked(name, t,
                                                                                   server.config.roster.valid_days))
        revoked = updated.find(name)
        if revoked is not None and revoked.role is Role.ADMIN:
            server.home.remove_trusted_admin(revoked.identity.verify_key)  # a revoked admin signs nothing here
    click.echo(f"revoked {name}; new cases are no longer encrypted to them")


@roster.command("renew")
@home_option
@admin_option
@click.option("--members", is_flag=True,
              help="Also extend every member not revoked (admins included) by [roster] member_days from now.")
def roster_renew(home: Path, admin_key: Path, members: bool) -> None:
    """Re-sign the roster with a fresh expiry, keeping its members (before, during or after its grace period)."""
    with open_server(home) as server:
        admin = unlock(admin_key)
        t = now()
        updated = renew(server, admin, t, members=members)
        later = expiring_members(updated, t, updated.expires - t - 1)
    click.echo(f"roster renewed until {_date(updated.expires)}" + (
        f"; every member not revoked extended to at least {_date(t + server.config.roster.member_days * DAY)}"
        if members else ""))
    if later:
        names = ", ".join(f"{m.name} ({_date(m.expires)})" for m in later[:5])
        click.echo(f"{len(later)} members expire before the roster does: {names}"
                   f"{' ...' if len(later) > 5 else ''}; 'roster renew --members' extends them")


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _state(standing: Standing) -> str:
    if standing.phase is Phase.VALID:
        return f"valid until {_date(standing.expires)}"
    ends = _date(standing.grace_ends)
    if standing.phase is Phase.GRACE:
        return (f"EXPIRED on {_date(standing.expires)}; in its grace period until {ends} (requests still go "
                "to its caseworkers of that day): renew it now with 'waystation roster renew'")
    return (f"EXPIRED on {_date(standing.expires)}, grace period over on {ends}: every request is refused; "
            "renew it with 'waystation roster renew'")


def _member_json(m: Member, t: int) -> dict[str, object]:
    return {
        "name": m.name, "role": m.role.value, "queues": list(m.queues), "fingerprint": m.identity.fingerprint(),
        "added": m.added, "expires": m.expires, "revoked": m.revoked, "active": m.active(t),
    }


@roster.command("show")
@home_option
@json_option
def roster_show(home: Path, as_json: bool) -> None:
    """Verify the roster and print its members."""
    with open_server(home) as server:
        t = now()
        try:
            standing = server.roster_standing(t)
        except RosterUnavailable as err:
            raise click.ClickException(f"{err}; run 'waystation doctor --home {home}'") from err
    current = standing.roster
    if as_json:
        print_json({"serial": current.serial, "issued": current.issued, "expires": current.expires,
                    "state": standing.phase.value, "usable_until": standing.expires,
                    "grace_ends": standing.grace_ends, "signer": standing.signer.name,
                    "members": [_member_json(m, t) for m in current.members]})
        return
    click.echo(f"roster #{current.serial}, signature verified (signed by {standing.signer.name}), {_state(standing)}")
    for m in current.members:
        state = "active" if m.active(t) else ("revoked" if m.revoked is not None else "expired")
        queues = ",".join(m.queues) or "-"
        click.echo(f"  {m.name:<20} {m.role.value:<10} {queues:<16} {state:<8} until {_date(m.expires)}")
        click.echo(f"  {'':<20} fingerprint {m.identity.fingerprint()}")
