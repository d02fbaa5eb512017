"""`waystation demo`: the whole path on one machine, with throw-away keys and home."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

import nacl.utils
from crypto.keys import KDF_INTERACTIVE, Identity, dump_identity, dump_public, load_public
from crypto.roster import DAY, Member, Role, new_roster, sign_roster
from staff.direct import StaffSession
from storage.files import write_new
from storage.home import init_home
from storage.intake import Request, submit
from storage.server import Server
from waystation.common import now

EXAMPLE = {
    "help": "leave the country",
    "urgency": "in danger now",
    "where": "example region",
    "contact": "this chat, evenings",
    "note": "demo request, no real person",
}


def _step(text: str) -> None:
    click.secho(f"\n== {text}", bold=True)


@click.command()
@click.option("--dir", "base", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where to put the demo home and keys (default: a new temporary directory).")
def demo(base: Path | None) -> None:
    """Run the whole path locally: init, keys, roster, submit, decrypt."""
    base = base or Path(tempfile.mkdtemp(prefix="waystation-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    home_path = base / "home"
    passphrase = nacl.utils.random(16).hex().encode()  # throw-away: this demo's keys protect nothing real

    _step(f"init: a server home at {home_path}")
    home = init_home(home_path)
    click.echo("config.toml, secrets/ (database key, bot identity), waystation.db (SQLCipher)")

    _step("keys: an admin and a caseworker, each on their own machine in real life")
    people: dict[str, Identity] = {}
    for label, name in (("admin", "Demo Admin"), ("caseworker", "Demo Caseworker")):
        identity = Identity.generate(name)
        key_path = base / f"{label}.key"
        write_new(key_path, dump_identity(identity, passphrase, KDF_INTERACTIVE))
        write_new(key_path.with_name(key_path.name + ".pub"), dump_public(identity.public), 0o644)
        people[label] = identity
        click.echo(f"{name:<16} fingerprint {identity.public.fingerprint()}  ({key_path})")

    _step("roster: the admin signs a roster with the caseworker on queue 'main'")
    t = now()
    with Server.open(home.root) as server:
        admin = people["admin"]
        caseworker = load_public((base / "caseworker.key.pub").read_bytes())
        roster = new_roster(admin.public, t, 30, 365).with_member(
            Member(caseworker, Role.CASEWORKER, ("main",), t, t + 365 * DAY), t, 30)
        server.save_roster(sign_roster(roster, admin), t, new_admins=[(admin.signing_key.verify_key, admin.name)])
        click.echo(f"roster #{roster.serial} signed by {admin.name}; trusted admin key pinned")

        _step("submit: a request is encrypted to the caseworker and queued")
        receipt = submit(server, Request(EXAMPLE, "en", "cli"), now())
        click.echo(f"case {receipt.case_id} in queue {receipt.queue}; the person keeps reference {receipt.reference}")
        click.echo(f"queue stats (no decryption): {server.cases.stats()}")

        _step("staff: the caseworker verifies and decrypts with their own key")
        view, _ = StaffSession.start(server, people["caseworker"], now()).show(receipt.case_id)
        answers = (view.request or {}).get("answers", {})
        for name, value in answers.items():
            click.echo(f"  {name}: {value}")

    click.echo(f"\nDone. Look around {base}, or try: waystation staff list --home {home_path} "
               f"--key {base / 'caseworker.key'} (passphrase: {passphrase.decode()})")
