"""`waystation keys`: staff identities."""

from __future__ import annotations

import os
from pathlib import Path

import click

from crypto.keys import (
    KDF_INTERACTIVE,
    KDF_MODERATE,
    KDF_SENSITIVE,
    Identity,
    dump_identity,
    dump_public,
    load_public,
)
from storage.files import write_new
from waystation.common import PASSPHRASE_ENV, get_passphrase
from waystation.passphrases import RULE, weakness

#: A new passphrase typed at the terminal may be tried this many times before the command gives up.
PASSPHRASE_TRIES = 3

KDF_PROFILES = {"interactive": KDF_INTERACTIVE, "moderate": KDF_MODERATE, "sensitive": KDF_SENSITIVE}


@click.group()
def keys() -> None:
    """Create and inspect staff identities (signing + encryption keys)."""


@keys.command("new")
@click.option("--name", required=True, help="The person's name as it will appear on the roster.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Private key file to write; the public key goes to FILE.pub.")
@click.option("--kdf", type=click.Choice(sorted(KDF_PROFILES)), default="moderate", show_default=True,
              help="Argon2id cost protecting the private key.")
def keys_new(name: str, out: Path, kdf: str) -> None:
    """Create a staff identity: FILE (private, passphrase-protected) and FILE.pub."""
    pub_path = out.with_name(out.name + ".pub")
    for path in (out, pub_path):
        if path.exists():
            raise click.ClickException(f"{path} already exists: refusing to overwrite a key")
    passphrase = new_passphrase(out.name)
    identity = Identity.generate(name)
    private = dump_identity(identity, passphrase, KDF_PROFILES[kdf])
    write_new(out, private, 0o600)
    write_new(pub_path, dump_public(identity.public), 0o644)
    click.echo(f"private key: {out}")
    click.echo(f"public key:  {pub_path}")
    click.echo(f"fingerprint: {identity.public.fingerprint()}")


def new_passphrase(file_name: str) -> bytes:
    """A passphrase for a new key that meets RULE, from WAYSTATION_PASSPHRASE or the terminal (asked again if weak)."""
    from_environment = bool(os.environ.get(PASSPHRASE_ENV))
    for _ in range(1 if from_environment else PASSPHRASE_TRIES):
        passphrase = get_passphrase(f"New passphrase for {file_name}", confirm=True)
        why = weakness(passphrase.decode("utf-8"))
        if why is None:
            return passphrase
        where = f" (from {PASSPHRASE_ENV})" if from_environment else ""
        if from_environment:
            raise click.ClickException(f"the passphrase{where} is too weak: {why}; it needs {RULE}")
        click.echo(f"That passphrase is too weak: {why}. It needs {RULE}.", err=True)
    raise click.ClickException(f"no passphrase strong enough was given; it needs {RULE}")


@keys.command("fingerprint")
@click.argument("pubfile", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def keys_fingerprint(pubfile: Path) -> None:
    """Print the name and fingerprint of a public key file, to compare aloud."""
    public = load_public(pubfile.read_bytes())
    click.echo(f"{public.name}: {public.fingerprint()}")
