"""Shared fixtures: identities with the cheapest Argon2id, and a staffed server home.

Every key is generated at test time; nothing secret lives in the repository.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from crypto.keys import KDF_MINIMUM, Identity, KdfLimits
from crypto.roster import DAY, Member, Role, new_roster, sign_roster
from storage.home import init_home
from storage.server import Server
from tests.fulldisk import small_disk  # noqa: F401  (a fixture: a real, small file system to fill)


@pytest.fixture
def kdf() -> KdfLimits:
    """The one place tests choose Argon2id limits: the minimum, for speed."""
    return KDF_MINIMUM


@dataclass
class StaffedHome:
    """A server home with a signed roster: one admin, caseworkers on 'main' and 'other', a volunteer."""

    root: Path
    admin: Identity
    staff: dict[str, Identity] = field(default_factory=dict)

    def open(self) -> Server:
        """Open the home as the CLI would."""
        return Server.open(self.root, environ={})


def build_staffed_home(root: Path) -> StaffedHome:
    """Create a home and sign a roster for it (helper for fixtures and subprocess tests)."""
    home = init_home(root)
    admin = Identity.generate("Ada Admin")
    people = {
        "cas-main": (Role.CASEWORKER, ("main",)),
        "cas-main-2": (Role.CASEWORKER, ("main",)),
        "cas-other": (Role.CASEWORKER, ("other",)),
        "vol": (Role.VOLUNTEER, ("main",)),
    }
    now = int(time.time())
    roster = new_roster(admin.public, now, 30, 365)
    staffed = StaffedHome(root, admin)
    for name, (role, queues) in people.items():
        identity = Identity.generate(name)
        staffed.staff[name] = identity
        roster = roster.with_member(Member(identity.public, role, queues, now, now + 365 * DAY), now, 30)
    home.add_trusted_admin(admin.signing_key.verify_key, admin.name)
    with Server.open(root, environ={}) as server:
        server.save_roster(sign_roster(roster, admin), now)
    return staffed


@pytest.fixture
def staffed_home(tmp_path: Path) -> StaffedHome:
    """A fresh, staffed server home under tmp_path/home."""
    return build_staffed_home(tmp_path / "home")


@pytest.fixture
def server(staffed_home: StaffedHome) -> Iterator[Server]:
    """The staffed home, opened."""
    with staffed_home.open() as opened:
        yield opened
