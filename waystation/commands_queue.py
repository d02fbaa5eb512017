"""`waystation submit` and `waystation queue`: the intake door and queue counts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from crypto.padding import MAX_PAYLOAD
from intake.requests import request_from_json
from intake.requests import submit as submit_request
from storage.cases import Status
from waystation.common import home_option, json_option, now, open_server, print_json


@click.command()
@home_option
@click.option("--queue", default=None, help="Queue to put the request in (default: queues.default).")
@json_option
def submit(home: Path, queue: str | None, as_json: bool) -> None:
    """Read one request as JSON on stdin, encrypt it to the queue's caseworkers and enqueue it."""
    raw = sys.stdin.buffer.read(MAX_PAYLOAD + 1)
    if len(raw) > MAX_PAYLOAD:
        raise click.ClickException(f"the request is larger than {MAX_PAYLOAD} bytes")
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise click.ClickException("stdin is not a JSON object (UTF-8)") from err
    request = request_from_json(obj, channel="cli")
    with open_server(home) as server:
        receipt = submit_request(server, request, now(), queue)
    if as_json:
        print_json({"id": receipt.case_id, "queue": receipt.queue, "reference": receipt.reference})
    else:
        click.echo(f"case {receipt.case_id} queued in {receipt.queue}")
        click.echo(f"reference for the person: {receipt.reference}")


@click.group()
def queue() -> None:
    """Look at the queue without decrypting anything."""


@queue.command("stats")
@home_option
@json_option
def queue_stats(home: Path, as_json: bool) -> None:
    """Counts by queue and status."""
    with open_server(home) as server:
        stats = server.cases.stats()
    if as_json:
        print_json({"queues": stats})
        return
    if not stats:
        click.echo("no cases")
        return
    click.echo(f"{'queue':<20}" + "".join(f"{s.value:>9}" for s in Status))
    for name, counts in stats.items():
        click.echo(f"{name:<20}" + "".join(f"{counts[s.value]:>9}" for s in Status))
