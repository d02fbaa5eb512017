"""`waystation staff stats|export|import`: the desk's reports and handover files (issue 12).

Registered on the `staff` group of waystation.commands_staff, with its options and desks: the
same Desk behind the CLI, the terminal inbox and the web desk.
"""

from __future__ import annotations

from pathlib import Path

import click

from staff.stats import Stats, median, percentile
from waystation.commands_staff import _desk, _options, _target, staff


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
