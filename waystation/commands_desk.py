"""`waystation staff stats|export|import`: the desk's reports and handover files (issue 12).

Registered on the `staff` group of waystation.commands_staff, with its options and desks: the
same Desk behind the CLI, the terminal inbox and the web desk.
"""

from __future__ import annotations

from pathlib import Path

import click

from model.files import write_new
from staff.casework import when
from staff.errors import InputRejected
from staff.handover import Handover
from staff.remote import safe_text
from staff.stats import Stats, median, percentile
from waystation.commands_staff import _desk, _options, _target, staff
from waystation.common import json_option, print_json


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    hours = seconds / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def _print_stats(stats: Stats) -> None:
    click.echo(f"{stats.total} cases in the last {stats.weeks} weeks (ISO weeks, UTC; times are coarse)")
    click.echo(f"time to first claim: median {_duration(median(stats.first_claim_seconds))}, "
               f"90th percentile {_duration(percentile(stats.first_claim_seconds, 0.9))} "
               f"({len(stats.first_claim_seconds)} claimed)")
    click.echo(f"time to first reply: median {_duration(median(stats.first_reply_seconds))}, "
               f"90th percentile {_duration(percentile(stats.first_reply_seconds, 0.9))} "
               f"({len(stats.first_reply_seconds)} answered)")
    for row in stats.rows:
        click.echo(f"  {row.week}  {row.queue:<12} {row.status:<8} {row.urgency:<10} {row.count:>5}")


@staff.command("stats")
@_options
@click.option("--weeks", type=click.IntRange(1, 520), default=12, show_default=True,
              help="How many ISO weeks back, this one included.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the weekly rows as CSV (week,queue,status,urgency,count).")
@click.option("--with-urgency", is_flag=True,
              help="Decrypt your cases first (in memory) to count them by urgency, which is not metadata.")
@click.pass_context
def staff_stats(ctx: click.Context, home: Path | None, key: Path | None, server: str | None, weeks: int,
                as_csv: bool, with_urgency: bool) -> None:
    """Cases per week by queue and status (and urgency), times to first claim and reply: for reports."""
    with _desk(_target(ctx, home, key, server)) as desk:
        if with_urgency:
            desk.list()  # the desk keeps each case's urgency answer, nothing else
        stats = desk.stats(weeks)
    if as_csv:
        click.echo(stats.csv(), nl=False)
    else:
        _print_stats(stats)


@staff.command("export")
@_options
@click.argument("cases", nargs=-1, required=True)
@click.option("--to", "to", required=True, metavar="NAME",
              help="The colleague (roster name) it is sealed to: an active caseworker of the cases' queues.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The file to write (must not exist; created readable by you only).")
@click.pass_context
def staff_export(ctx: click.Context, home: Path | None, key: Path | None, server: str | None,
                 cases: tuple[str, ...], to: str, out: Path) -> None:
    """Hand cases over: answers and history sealed to one colleague's key, signed by you. Never plaintext."""
    if out.exists():
        raise InputRejected(f"{out} exists already: choose a new file name")
    with _desk(_target(ctx, home, key, server)) as desk:
        data = desk.export(list(cases), to)
    try:
        write_new(out, data)
    except OSError as err:
        raise InputRejected(f"cannot write {out}: {err.strerror}") from err
    click.echo(f"sealed {len(cases)} case(s) to {safe_text(to, 64)} in {out}: only their key opens it "
               "('waystation staff import FILE'); send it any way you like")


def _handover_json(handover: Handover) -> dict[str, object]:
    return {"from": handover.exporter, "to": handover.recipient, "at": handover.at,
            "cases": [{"id": c.id, "queue": c.queue, "status": c.status, "created_at": c.created_at,
                       "claimed_by": c.claimed_by, "assigned_to": c.assigned_to, "tags": c.tags,
                       "request": c.request, "events": c.events} for c in handover.cases]}


def _print_handover(handover: Handover) -> None:
    click.echo(f"handover from {safe_text(handover.exporter, 64)} to {safe_text(handover.recipient, 64)}, "
               f"made {when(handover.at)} UTC; verified against your roster")
    for case in handover.cases:
        click.echo(f"case {safe_text(case.id, 64)}  queue {safe_text(case.queue, 64)}  status "
                   f"{safe_text(case.status, 16)}  claimed by {safe_text(case.claimed_by or '-', 64)}  "
                   f"tags {', '.join(safe_text(t, 40) for t in case.tags) or '-'}")
        answers = case.request.get("answers", {})
        for name, value in (answers.items() if isinstance(answers, dict) else []):
            click.echo(f"  {safe_text(name, 64)}: {safe_text(value, 4000)}")
        for event in case.events:
            who = event.get("signer") or event.get("actor")
            head = f"  - {safe_text(event.get('kind'), 16)} by {safe_text(who, 64)}"
            text = event.get("text")
            click.echo(head if not isinstance(text, str) else f"{head}: {safe_text(text, 4000)}")


@staff.command("import")
@_options
@json_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.pass_context
def staff_import(ctx: click.Context, home: Path | None, key: Path | None, server: str | None, as_json: bool,
                 file: Path) -> None:
    """Open a handover sealed to you (checked against your verified roster) and show it; nothing is written."""
    data = file.read_bytes()
    with _desk(_target(ctx, home, key, server)) as desk:
        handover = desk.import_handover(data)
    if as_json:
        print_json(_handover_json(handover))
    else:
        _print_handover(handover)
