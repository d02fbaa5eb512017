"""docs/operations.md, "The server is seized", step 4: an admin key typed on a seized server is replaced in place.

No new roster (`roster init` refuses a home that has one): the old key adds the new admin, the new
key revokes the old one, and from then on a roster the old key signs is refused. Run through the
real console script; the attacker is whoever copied the old key file and saw its passphrase.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from crypto.keys import KDF_MINIMUM, dump_identity, load_identity
from crypto.roster import load_roster, sign_roster
from tests.cli.runner import PASSPHRASE, assert_user_error, ok, run
from tests.conftest import build_staffed_home

pytestmark = pytest.mark.timeout(120)


def test_a_compromised_admin_key_is_replaced_and_what_it_signs_is_refused(tmp_path: Path) -> None:
    staffed = build_staffed_home(tmp_path / "home")  # as restored from a backup made before the seizure
    home = staffed.root
    old = tmp_path / "old.key"
    old.write_bytes(dump_identity(staffed.admin, PASSPHRASE.encode(), KDF_MINIMUM))
    new = tmp_path / "new.key"
    ok("keys", "new", "--name", "Ada Admin (2026)", "--out", new)

    assert_user_error(run("roster", "init", "--home", home, "--admin", new), "already has a roster")
    ok("roster", "add", "--home", home, "--admin", old, "--role", "admin", f"{new}.pub")
    ok("roster", "revoke", "--home", home, "--admin", new, "Ada Admin")
    pinned = (home / "trusted_admins").read_text()
    assert pinned.count("\n") == 1 and pinned.endswith("# Ada Admin (2026)\n"), pinned
    assert "signature verified" in ok("roster", "show", "--home", home).stdout

    # The attacker un-revokes the old admin and signs with the old key: the home refuses that roster.
    now = int(time.time())
    new_identity = load_identity(new.read_bytes(), PASSPHRASE.encode())
    current = load_roster((home / "roster.json").read_bytes(), trusted_admins=[new_identity.signing_key.verify_key],
                          now=now)
    restored = tuple(dataclasses.replace(m, revoked=None) if m.name == "Ada Admin" else m for m in current.members)
    forged = dataclasses.replace(current, members=restored).renewed(now, 30)
    genuine = (home / "roster.json").read_bytes()
    (home / "roster.json").write_bytes(sign_roster(forged, staffed.admin))
    assert_user_error(run("roster", "show", "--home", home), "not a trusted admin")
    assert_user_error(run("roster", "renew", "--home", home, "--admin", old), "not a trusted admin")

    # The new admin goes on working with the genuine roster.
    (home / "roster.json").write_bytes(genuine)
    ok("roster", "renew", "--home", home, "--admin", new)
