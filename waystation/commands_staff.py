"""`waystation staff`: the caseworker client (direct mode on the server machine)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from staff.direct import CaseView, ReadState, StaffSession
from storage.cases import Event
from waystation.common import json_option, now, open_server, print_json, unlock


@dataclass
class Target:
    """Where the staff client works and with which key (group options, overridable per command)."""

    home: Path | None = None
    key: Path | None = None


def _options(func: Any) -> Any:
    func = click.option("--home", type=click.Path(path_type=Path, file_okay=False), default=None,
                        help="Server home, for direct mode on the server machine.")(func)
    return click.option("--key", type=click.Path(path_type=Path, dir_okay=False), default=None,
                        help="Your private key file.")(func)


@click.group()
@_options
@click.pass_context
def staff(ctx: click.Context, home: Path | None, key: Path | None) -> None:
    """Read cases with your own key. Options may come before or after the subcommand."""
    ctx.obj = Target(home, key)


def _session_args(ctx: click.Context, home: Path | None, key: Path | None) -> tuple[Path, Path]:
    target: Target = ctx.find_object(Target) or Target()
    home, key = home or target.home, key or target.key
    if home is None:
        raise click.UsageError("--home is required (direct mode)")
    if key is None:
        raise click.UsageError("--key is required")
    return home, key


def _age(created: int, t: int) -> str:
    minutes = max(0, t - created) // 60
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h"
    return f"{minutes // 1440}d"


def _view_json(view: CaseView) -> dict[str, object]:
    c = view.case
    return {
        "id": c.id, "queue": c.queue, "status": c.status.value, "created_at": c.created_at,
        "claimed_by": c.claimed_by, "closed_at": c.closed_at, "readable": view.state.value,
        "problem": view.problem, "request": view.request,
    }


def _summary(view: CaseView) -> str:
    if view.state is not ReadState.OK or view.request is None:
        return f"[{view.state.value}] {view.problem}"
    answers = view.request.get("answers", {})
    if not isinstance(answers, dict):
        return "[rejected] answers are not a map"
    parts = [str(answers[k]) for k in ("urgency", "help") if k in answers]
    text = " / ".join(parts) if parts else ", ".join(f"{k}" for k in list(answers)[:3])
    return text[:60]


@staff.command("list")
@_options
@json_option
@click.pass_context
def staff_list(ctx: click.Context, home: Path | None, key: Path | None, as_json: bool) -> None:
    """List and decrypt the cases of your queues."""
    home, key = _session_args(ctx, home, key)
    identity = unlock(key)
    with open_server(home) as server:
        t = now()
        views = StaffSession.start(server, identity, t).list()
    if as_json:
        print_json([_view_json(v) for v in views])
        return
    if not views:
        click.echo("no cases in your queues")
        return
    for v in views:
        c = v.case
        click.echo(f"{c.id}  {c.queue:<10} {c.status.value:<8} {_age(c.created_at, t):>5}  "
                   f"{(c.claimed_by or '-'):<14} {_summary(v)}")


def _event_json(e: Event) -> dict[str, object]:
    return {"id": e.id, "kind": e.kind.value, "actor": e.actor, "at": e.created_at,
            "encrypted": e.envelope is not None}


@staff.command("show")
@_options
@json_option
@click.argument("case")
@click.pass_context
def staff_show(ctx: click.Context, home: Path | None, key: Path | None, as_json: bool, case: str) -> None:
    """Decrypt and show one case (its id or a unique prefix of 6+ characters) with its history."""
    home, key = _session_args(ctx, home, key)
    identity = unlock(key)
    with open_server(home) as server:
        view, events = StaffSession.start(server, identity, now()).show(case)
    if as_json:
        print_json({**_view_json(view), "events": [_event_json(e) for e in events]})
        return
    c = view.case
    click.echo(f"case {c.id}  queue {c.queue}  status {c.status.value}  claimed by {c.claimed_by or '-'}")
    if view.state is not ReadState.OK or view.request is None:
        click.echo(f"NOT VERIFIED: {view.problem}")
    else:
        req = view.request
        click.echo(f"language {req.get('language')}  submitted {req.get('submitted_hour')}  via {req.get('channel')}")
        answers = req.get("answers", {})
        for name, value in (answers.items() if isinstance(answers, dict) else []):
            click.echo(f"  {name}: {value}")
    for e in events:
        when = datetime.fromtimestamp(e.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        click.echo(f"  - {when} {e.kind.value} by {e.actor}{' (encrypted)' if e.envelope else ''}")
