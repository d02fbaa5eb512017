"""Every `waystation` command quoted in the docs exists, with every option it shows (and runs with --help).

Renaming a command or an option (which the project's rules forbid anyway) or mistyping one in a
doc fails here, naming the doc line and the option. Sources: docs/*.md, README.md,
deploy/README.md, and what the deployment files run (ExecStart= of the units, the image's CMD).
How lines are found and read: tests/docs/quoted.py.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from tests.docs.quoted import (
    Quote,
    command_args,
    doc_files,
    quotes_in,
    unit_quotes,
    walk,
)
from waystation.cli import main


def _quotes() -> list[Quote]:
    found = [q for path in doc_files() for q in quotes_in(path) if command_args(q.text)]
    return found + [q for q in unit_quotes() if command_args(q.text)]


QUOTES = _quotes()


def test_the_docs_quote_commands_at_all() -> None:
    """Guards the extractor: if it stopped finding lines, every other test here would pass vacuously."""
    assert len(QUOTES) > 80
    found = {q.where.split(":")[0] for q in QUOTES}
    assert {"README.md", "docs/deploy.md", "docs/operations.md", "docs/alerts.md", "deploy/README.md",
            "deploy/waystation.service"} <= found
    texts = " ".join(q.text for q in QUOTES)
    assert "waystation volunteers set --home HOME ID" in texts and "--language en|ru|uk" in texts


@pytest.mark.parametrize("quote", QUOTES, ids=[q.where for q in QUOTES])
def test_quoted_command_exists_with_every_option(quote: Quote) -> None:
    problems = [p for args in command_args(quote.text) for p in walk(main, args).problems]
    assert not problems, f"{quote}\n  " + "\n  ".join(problems)


def _help(path: tuple[str, ...]) -> str:
    done = CliRunner().invoke(main, [*path, "--help"])
    assert done.exit_code == 0, f"waystation {' '.join(path)} --help exited {done.exit_code}: {done.output}"
    return done.output


@pytest.mark.parametrize("quote", QUOTES, ids=[q.where for q in QUOTES])
def test_quoted_command_runs_with_help_and_shows_its_options(quote: Quote) -> None:
    """`waystation PATH --help` runs for each command the line reaches, and lists each option the line uses."""
    for args in command_args(quote.text):
        reached = walk(main, args)
        for path in reached.paths:
            helped = _help(path)
            for option in reached.options.get(path, set()):
                assert re.search(rf"(^|[\s,/\[]){re.escape(option)}($|[\s,/=\]])", helped, re.MULTILINE), (
                    f"{quote}: `waystation {' '.join(path)} --help` does not list {option}")


# The checker itself, on lines written for it: it must catch what it is here to catch.

@pytest.mark.parametrize(("line", "expected"), [
    ("waystation doctor --home HOME --no-netwrk", "option --no-netwrk is not accepted by `waystation doctor`"),
    ("waystation roster renw --home HOME", "`waystation roster` has no command 'renw'"),
    ("waystation-admin backup --home /var/lib/waystation/home --output DIR",
     "option --output is not accepted by `waystation backup`"),
    ("docker compose run --rm -v \"$PWD/keys:/keys:ro\" bot roster add --home /data/home --admn /keys/a.key",
     "option --admn is not accepted by `waystation roster add`"),
    ("WAYSTATION_VENV=/x/venv waystation-admin doctor --home H --jsn", "option --jsn is not accepted"),
    ("runuser -u waystation -- /opt/waystation/current/venv/bin/waystation init --hme H", "option --hme"),
    ("ExecStart=/opt/waystation/current/venv/bin/waystation bot run --home-dir H", "option --home-dir"),
    ("waystation volunteers set --home HOME ID [--tier 1|2] [--label L] [--active/--inactiv]", "option --inactiv"),
    ("waystation staff --server URL --key K list|show CASE|claim CASE|clam CASE", "has no command 'clam'"),
    ("cd /srv && waystation doctor --hom HOME", "option --hom"),
    ("waystation backup --home HOME --out FILE ; waystation restore --home HOME --keyfile K FILE", "option --keyfile"),
    ("waystation staff list --server http://<address>.onion --ky me.key", "option --ky"),
])
def test_the_checker_catches_a_wrong_name(line: str, expected: str) -> None:
    problems = [p for args in command_args(line) for p in walk(main, args).problems]
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("line", [
    "useradd --system --home-dir /var/lib/waystation --shell /usr/sbin/nologin waystation",
    "journalctl -u waystation -f",
    "runuser -u waystation -- editor /var/lib/waystation/home/config.toml",
    "python3 -m venv ~/waystation && ~/waystation/bin/pip install <path to a checkout>",
    "docker compose logs -f bot",
])
def test_the_checker_ignores_waystation_as_a_mere_word(line: str) -> None:
    assert command_args(line) == []
