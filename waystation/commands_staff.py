"""`waystation staff`: the caseworker client.

Each command is written once, over a staff.desk.Desk: remote mode (`--server URL`,
staff.desk.RemoteDesk) talks to the signed staff API and verifies everything it
receives against keys pinned on first use (staff.remote, staff.pins); direct mode
(`--home HOME`, staff.direct.DirectDesk) works on a server home on the same machine,
with the same sealing as the remote client and the same audit entries. The terminal
inbox (`tui`) uses the same desks.
"""

from __future__ import annotations

import os
import sys
from base64 import b64decode
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import click
from nacl.public import PublicKey
from nacl.signing import VerifyKey

from crypto.keys import Identity, fingerprint, load_public
from model.cases import Case, Event, Status
from model.views import CaseView, ReadState
from staff.casework import EventView, age, when
from staff.desk import INBOX_TIMEOUT, TIMEOUT, Desk, RemoteDesk
from staff.direct import DirectDesk
from staff.errors import InputRejected, PinMismatched
from staff.pins import PinStore, pin_admin, pin_bot
from staff.remote import RemoteStaff, normalize_server, safe_text
from waystation.common import json_option, now, print_json, unlock


@dataclass
class Target:
    """Where the staff client works and with which key (group options, overridable per command)."""

    home: Path | None = None
    key: Path | None = None
    server: str | None = None


def _options(func: Any) -> Any:
    func = click.option("--server", default=None, metavar="URL",
                        help="Staff API address (remote mode), e.g. https://staff.example.org.")(func)
    func = click.option("--home", type=click.Path(path_type=Path, file_okay=False), default=None,
                        help="Server home, for direct mode on the server machine.")(func)
    return click.option("--key", type=click.Path(path_type=Path, dir_okay=False), default=None,
                        help="Your private key file.")(func)


@click.group()
@_options
@click.pass_context
def staff(ctx: click.Context, home: Path | None, key: Path | None, server: str | None) -> None:
    """Read and work on cases with your own key. Options may come before or after the subcommand."""
    ctx.obj = Target(home, key, server)


def _target(ctx: click.Context, home: Path | None, key: Path | None, server: str | None) -> Target:
    group: Target = ctx.find_object(Target) or Target()
    target = Target(home or group.home, key or group.key, server or group.server)
    if target.home is not None and target.server is not None:
        raise click.UsageError("give either --server (remote mode) or --home (direct mode), not both")
    if target.home is None and target.server is None:
        raise click.UsageError("--home is required (direct mode), or --server URL (remote mode)")
    if target.key is None:
        raise click.UsageError("--key is required")
    return target


def _unlock(target: Target) -> Identity:
    if target.key is None:
        raise click.UsageError("--key is required")
    return unlock(target.key)


def _opener(target: Target, identity: Identity, *, inbox: bool = False) -> Callable[[], Desk]:
    """How to open the desk `target` names (the inbox: caseworkers only, a shorter network timeout)."""
    if target.server is not None:
        timeout = INBOX_TIMEOUT if inbox else TIMEOUT
        return partial(RemoteDesk.open, target.server, identity, PinStore.default(), timeout=timeout,
                       caseworker_only=inbox)
    if target.home is None:
        raise click.UsageError("--home is required (direct mode), or --server URL (remote mode)")
    return partial(DirectDesk.open, target.home, identity)


@contextmanager
def _desk(target: Target) -> Iterator[Desk]:
    desk = _opener(target, _unlock(target))()
    try:
        if desk.greeting:
            click.echo(desk.greeting, err=True)
        yield desk
    finally:
        desk.shut()


def _view_json(view: CaseView) -> dict[str, object]:
    c = view.case
    return {
        "id": c.id, "queue": c.queue, "status": c.status.value, "created_at": c.created_at,
        "claimed_by": c.claimed_by, "closed_at": c.closed_at, "readable": view.state.value,
        "problem": view.problem, "request": view.request, "assigned_to": view.assigned_to,
        "tags": sorted(view.tags), "followups": view.followups, "last_activity": c.updated_at,
    }


def _summary(view: CaseView) -> str:
    if view.state is not ReadState.OK or view.request is None:
        return f"[{view.state.value}] {view.problem}"
    answers = view.request.get("answers", {})
    if not isinstance(answers, dict):
        return "[rejected] answers are not a map"
    parts = [str(answers[k]) for k in ("urgency", "help") if k in answers]
    text = " / ".join(parts) if parts else ", ".join(f"{k}" for k in list(answers)[:3])
    return safe_text(text, 60)


def _statuses(value: str | None) -> list[Status] | None:
    if not value:
        return None
    try:
        return [Status(s.strip()) for s in value.split(",")]
    except ValueError as err:
        raise click.BadParameter("use new, claimed and closed, comma-separated", param_hint="--status") from err


@staff.command("list")
@_options
@json_option
@click.option("--status", default=None, help="Only these statuses, e.g. new,claimed.")
@click.pass_context
def staff_list(ctx: click.Context, home: Path | None, key: Path | None, server: str | None, as_json: bool,
               status: str | None) -> None:
    """List and decrypt the cases of your queues."""
    target, wanted = _target(ctx, home, key, server), _statuses(status)
    t = now()
    with _desk(target) as desk:
        views = desk.list(wanted)
    if as_json:
        print_json([_view_json(v) for v in views])
        return
    if not views:
        click.echo("no cases in your queues")
        return
    for v in views:
        c = v.case
        click.echo(f"{c.id}  {c.queue:<10} {c.status.value:<8} {age(c.created_at, t):>5}  "
                   f"{safe_text(c.claimed_by or '-', 64):<14} {_summary(v)}")


def _event_json(e: Event) -> dict[str, object]:
    return {"id": e.id, "kind": e.kind.value, "actor": e.actor, "at": e.created_at,
            "encrypted": e.envelope is not None, "delivery": None if e.delivery is None else e.delivery.value,
            "subject": e.subject}


def _event_view_json(v: EventView) -> dict[str, object]:
    return {**_event_json(v.event), "readable": v.state.value, "signer": v.signer, "text": v.text,
            "problem": v.problem}


def _print_case(view: CaseView) -> None:
    c = view.case
    click.echo(f"case {c.id}  queue {c.queue}  status {c.status.value}  claimed by {safe_text(c.claimed_by or '-')}")
    if c.assigned_to or view.tags:
        tags = ", ".join(safe_text(t, 40) for t in sorted(view.tags)) or "-"
        click.echo(f"assigned to {safe_text(c.assigned_to or '-', 64)}  tags {tags}")
    if view.state is not ReadState.OK or view.request is None:
        click.echo(f"NOT VERIFIED: {view.problem}")
        return
    req = view.request
    click.echo(f"language {req.get('language')}  submitted {req.get('submitted_hour')}  via {req.get('channel')}")
    answers = req.get("answers", {})
    for name, value in (answers.items() if isinstance(answers, dict) else []):
        click.echo(f"  {name}: {value}")


def _print_event(v: EventView) -> None:
    e = v.event
    head = f"  - {when(e.created_at)} {e.kind.value} by {safe_text(v.signer or e.actor, 64)}"
    if e.subject is not None:
        head += f" to {safe_text(e.subject, 64)}"
    if e.delivery is not None:
        head += f" ({e.delivery.value})"
    if v.state is ReadState.REJECTED:
        click.echo(f"{head}: NOT VERIFIED: {v.problem}")
    elif v.state is ReadState.NOT_FOR_THIS_KEY:
        click.echo(f"{head}: (encrypted, {v.problem})")
    elif v.text is None:
        click.echo(head)
    else:
        warning = f" [{v.problem}]" if v.problem else ""
        click.echo(f"{head}{warning}:")
        for line in v.text.splitlines() or [""]:
            click.echo(f"      {safe_text(line, 4000)}")


@staff.command("show")
@_options
@json_option
@click.argument("case")
@click.pass_context
def staff_show(ctx: click.Context, home: Path | None, key: Path | None, server: str | None, as_json: bool,
               case: str) -> None:
    """Decrypt and show one case (its id or a unique prefix of 6+ characters) with its history."""
    with _desk(_target(ctx, home, key, server)) as desk:
        detail = desk.detail(case)  # both modes: the same verified, decrypted CaseDetail
    if as_json:
        print_json({**_view_json(detail.view), "events": [_event_view_json(e) for e in detail.events]})
        return
    _print_case(detail.view)
    for event_view in detail.events:
        _print_event(event_view)


def _text_argument(text: str) -> str:
    """TEXT, or stdin when TEXT is '-' (keeps what you write out of the shell history)."""
    if text != "-":
        return text
    data = sys.stdin.buffer.read(1 << 20)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputRejected("the text on stdin is not UTF-8") from err


def _change(name: str, doc: str, change: Callable[[Desk, str], Case], done: str) -> None:
    @staff.command(name, help=doc)
    @_options
    @click.argument("case")
    @click.pass_context
    def command(ctx: click.Context, home: Path | None, key: Path | None, server: str | None, case: str) -> None:
        with _desk(_target(ctx, home, key, server)) as desk:
            changed = change(desk, case)
        click.echo(f"{done} {changed.id} (now {changed.status.value})")


_change("claim", "Claim a new case, so colleagues see it is yours.", lambda d, c: d.claim(c), "claimed")
_change("take-over", "Take over a case a colleague claimed (they left, lost their key, or handed it on).",
        lambda d, c: d.take_over(c), "took over")
_change("close", "Close a case (new or claimed).", lambda d, c: d.close(c), "closed")
_change("reopen", "Reopen a closed case.", lambda d, c: d.reopen(c), "reopened")


@staff.command("note")
@_options
@click.argument("case")
@click.argument("text")
@click.pass_context
def staff_note(ctx: click.Context, home: Path | None, key: Path | None, server: str | None, case: str,
               text: str) -> None:
    """Add a note to a case, encrypted to the queue's caseworkers (TEXT '-' reads stdin)."""
    target, body = _target(ctx, home, key, server), _text_argument(text)
    with _desk(target) as desk:
        case_id, event_id = desk.note(case, body)
    click.echo(f"note {event_id} added to {case_id}")


@staff.command("reply")
@_options
@click.argument("case")
@click.argument("text")
@click.pass_context
def staff_reply(ctx: click.Context, home: Path | None, key: Path | None, server: str | None, case: str,
                text: str) -> None:
    """Reply to the person behind a case; the bot delivers it discreetly (TEXT '-' reads stdin)."""
    target, body = _target(ctx, home, key, server), _text_argument(text)
    with _desk(target) as desk:
        case_id, outbox_id = desk.reply(case, body)
    click.echo(f"reply to {case_id} queued for the bot (outbox {outbox_id})")


@staff.command("grant")
@_options
@click.option("--to", "to", required=True, metavar="NAME",
              help="The colleague (roster name) to re-seal the cases to: an active caseworker of the queue.")
@click.option("--queue", default=None, metavar="Q", help="Only this queue (default: every queue you share).")
@click.pass_context
def staff_grant(ctx: click.Context, home: Path | None, key: Path | None, server: str | None, to: str,
                queue: str | None) -> None:
    """Let a colleague read the open cases you can read (a new member, or a replaced key): one signed grant a case."""
    with _desk(_target(ctx, home, key, server)) as desk:
        outcome = desk.grant(to, queue)
    click.echo(f"granted {len(outcome.granted)} open cases to {safe_text(to, 64)}; {len(outcome.already)} they "
               f"could already read")
    if outcome.unreadable:
        listed = ", ".join(c[:6] for c in outcome.unreadable[:10])
        click.echo(f"{len(outcome.unreadable)} open cases you cannot read either were not granted: {listed} "
                   "(a colleague who can read them must grant them; 'waystation doctor' lists cases nobody can read)")


@staff.command("assign")
@_options
@click.argument("case")
@click.argument("name")
@click.pass_context
def staff_assign(ctx: click.Context, home: Path | None, key: Path | None, server: str | None, case: str,
                 name: str) -> None:
    """Assign a case to a colleague (their roster name): an active caseworker of the case's queue."""
    with _desk(_target(ctx, home, key, server)) as desk:
        changed = desk.assign(case, name)
    click.echo(f"assigned {changed.id} to {safe_text(changed.assigned_to or name, 64)}")


def _tagging(name: str, doc: str, done: str) -> None:
    @staff.command(name, help=doc)
    @_options
    @click.argument("case")
    @click.argument("tag")
    @click.pass_context
    def command(ctx: click.Context, home: Path | None, key: Path | None, server: str | None, case: str,
                tag: str) -> None:
        with _desk(_target(ctx, home, key, server)) as desk:
            case_id, event_id = desk.tag(case, tag) if name == "tag" else desk.untag(case, tag)
        click.echo(f"{done} {case_id} (event {event_id})")


_tagging("tag", "Tag a case; the tag is encrypted to the queue's caseworkers like a note.", "tagged")
_tagging("untag", "Remove a tag from a case (recorded, encrypted, in its history).", "untagged")


@staff.command("members")
@_options
@json_option
@click.option("--queue", default=None, metavar="Q", help="Only this queue (default: every queue of yours).")
@click.pass_context
def staff_members(ctx: click.Context, home: Path | None, key: Path | None, server: str | None, as_json: bool,
                  queue: str | None) -> None:
    """Colleagues on the verified roster who share your queues, and how many open cases each cannot read yet."""
    with _desk(_target(ctx, home, key, server)) as desk:
        found = desk.members(queue)
    if as_json:
        print_json([{"name": m.name, "queues": sorted(m.queues), "active": m.active, "cannot_read": m.cannot_read}
                    for m in found])
        return
    for m in found:
        state = "active" if m.active else "inactive"
        offer = f"  cannot read {m.cannot_read} open cases: 'staff grant --to NAME'" if m.cannot_read else ""
        click.echo(f"{safe_text(m.name, 64):<20} {state:<8} {','.join(sorted(m.queues))}{offer}")


@staff.command("tui")
@_options
@click.pass_context
def staff_tui(ctx: click.Context, home: Path | None, key: Path | None, server: str | None) -> None:
    """A terminal inbox: your queues, the decrypted case and its history; keys to claim, note, reply, close."""
    from staff.tui import DeskThread, Inbox, unsafe_environment  # Textual: only here

    target = _target(ctx, home, key, server)
    unsafe = unsafe_environment(os.environ)
    if unsafe is not None:
        raise click.ClickException(f"the inbox does not start: {unsafe}; unset it")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise click.ClickException("the inbox needs a terminal; in scripts use 'list --json' and 'show --json'")
    opener = _opener(target, _unlock(target), inbox=True)
    with DeskThread(opener) as desk:  # the desk is opened, used and closed on its own thread
        if desk.desk.greeting:
            click.echo(desk.desk.greeting, err=True)
        app = Inbox(desk)
        app.run()
    if app.failure is not None:
        raise click.ClickException(app.failure)


@staff.command("pin")
@click.option("--server", "server_opt", default=None, metavar="URL", help="Staff API address.")
@click.option("--key", "key_opt", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Your private key file (only for --bot-fingerprint).")
@click.option("--admin", "admins", multiple=True, type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Pin this admin's .pub file (repeatable).")
@click.option("--bot", "bot_pub", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="Pin this bot .pub file (after a confirmed rotation).")
@click.option("--bot-fingerprint", default=None, metavar="FINGERPRINT",
              help="Pin the bot key the server presents if its fingerprint is this one (read to you by an admin).")
@click.option("--forget", is_flag=True, help="Forget everything pinned for this server.")
@click.pass_context
def staff_pin(ctx: click.Context, server_opt: str | None, key_opt: Path | None, admins: tuple[Path, ...],
              bot_pub: Path | None, bot_fingerprint: str | None, forget: bool) -> None:
    """Show, set or forget the keys pinned for a server (admins, bot)."""
    group: Target = ctx.find_object(Target) or Target()
    if not (server_opt or group.server):
        raise click.UsageError("--server URL is required")
    server, store = normalize_server(server_opt or group.server or ""), PinStore.default()
    if forget:
        click.echo(f"forgot the keys pinned for {server}" if store.forget(server) else f"nothing pinned for {server}")
        return
    for path in admins:
        public = load_public(path.read_bytes())
        pin_admin(store, server, public)
        click.echo(f"pinned admin {public.name} ({public.fingerprint()}) for {server}")
    if bot_pub is not None:
        public = load_public(bot_pub.read_bytes())
        pin_bot(store, server, public)
        click.echo(f"pinned bot key {public.fingerprint()} for {server}")
    if bot_fingerprint is not None:
        key = key_opt or group.key
        if key is None:
            raise click.UsageError("--bot-fingerprint needs --key (the server answers signed requests only)")
        with RemoteStaff(server, unlock(key), store) as client:
            presented = client.presented_bot()
        if " ".join(bot_fingerprint.split()) != presented.fingerprint():
            raise PinMismatched(f"the server's bot key has the fingerprint {presented.fingerprint()}, not the one "
                                "you were given: nothing pinned")
        pin_bot(store, server, presented)
        click.echo(f"pinned bot key {presented.fingerprint()} for {server}")
    pins = store.load(server)
    if pins is None:
        click.echo(f"nothing pinned for {server} yet: the first command will pin what it presents")
        return
    for key_b64, name in sorted(pins.admins.items(), key=lambda kv: kv[1]):
        click.echo(f"admin {safe_text(name, 64)}: {key_b64}")
    bot = (fingerprint(VerifyKey(b64decode(pins.bot_sign)), PublicKey(b64decode(pins.bot_box)))
           if pins.bot_sign and pins.bot_box else "(not pinned yet)")
    click.echo(f"bot key: {bot}; earlier bot keys trusted: {len(pins.bot_history)}; "
               f"roster serial seen: {pins.roster_serial}")


# The desk's reports and handover files live in their own module, registered on this group.
from waystation import commands_desk as _commands_desk  # noqa: E402,F401
from waystation import commands_webdesk  # noqa: E402, F401 - registers `staff desk` (the web desk, staff/web)
