"""The whole CLI flow, run through the real console script: init, keys, roster, submit, stats, staff."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest

from crypto.envelope import Kind, open_envelope
from crypto.errors import NotARecipient
from crypto.keys import KDF_MINIMUM, Identity, dump_identity, load_identity, load_public
from crypto.reference import normalise_reference
from crypto.roster import DAY, Member, Role, sign_roster
from storage.server import Server
from tests.cli.runner import (
    PASSPHRASE,
    TIMEOUT,
    Result,
    assert_user_error,
    child_env,
    ok,
    run,
    waystation_command,
)
from tests.conftest import build_staffed_home

pytestmark = pytest.mark.timeout(120)

FINGERPRINT = re.compile(r"fingerprint: (\d{5}(?: \d{5}){5})$", re.MULTILINE)
CASE_LINE = re.compile(r"^case ([a-z0-9]{16}) queued in (\S+)$", re.MULTILINE)

# name -> (key file stem, role, queues)
PEOPLE = {
    "Carol Caseworker": ("carol", "caseworker", ("main",)),
    "Erin Caseworker": ("erin", "caseworker", ("main",)),
    "Dan Caseworker": ("dan", "caseworker", ("other",)),
    "Vera Volunteer": ("vera", "volunteer", ("main",)),
}


@dataclass
class World:
    """A home made entirely through the CLI, with keys for an admin and four staff."""

    home: Path
    keys: Path
    fingerprints: dict[str, str] = field(default_factory=dict)
    init_output: str = ""

    def key(self, stem: str) -> Path:
        return self.keys / f"{stem}.key"

    def copy(self, dest: Path) -> World:
        """An independent copy of the home (the keys are shared: they are only read)."""
        shutil.copytree(self.home, dest)
        return World(dest, self.keys, self.fingerprints, self.init_output)

    def identity(self, stem: str) -> Identity:
        return load_identity(self.key(stem).read_bytes(), PASSPHRASE.encode())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("world")
    keys = base / "keys"
    keys.mkdir()
    made = World(base / "home", keys)
    made.init_output = ok("init", made.home).stdout
    for name, stem in [("Ada Admin", "admin"), *((n, p[0]) for n, p in PEOPLE.items())]:
        out = ok("keys", "new", "--name", name, "--out", made.key(stem), "--kdf", "interactive").stdout
        found = FINGERPRINT.search(out)
        assert found, out
        made.fingerprints[stem] = found.group(1)
    ok("roster", "init", "--home", made.home, "--admin", made.key("admin"))
    for name, (stem, role, queues) in PEOPLE.items():
        queue_args = [a for q in queues for a in ("--queue", q)]
        out = ok("roster", "add", "--home", made.home, "--admin", made.key("admin"), "--role", role, *queue_args,
                 f"{made.key(stem)}.pub").stdout
        assert name in out and made.fingerprints[stem] in out
    return made


@pytest.fixture
def fresh(world: World, tmp_path: Path) -> World:
    """A copy of the world's home that a test may change."""
    return world.copy(tmp_path / "home")


def _submit(world: World, answers: dict[str, object], *extra: str) -> Result:
    return ok("submit", "--home", world.home, *extra, stdin=json.dumps(answers).encode())


def _submit_json(world: World, answers: dict[str, object], *extra: str) -> dict[str, str]:
    result = json.loads(_submit(world, answers, "--json", *extra).stdout)
    assert isinstance(result, dict)
    return result


def _envelope(world: World, case_id: str) -> tuple[bytes, str, Server]:
    server = Server.open(world.home, environ={})
    case = server.cases.fetch(case_id)
    assert case.envelope is not None
    return case.envelope, case.queue, server


def _opens_for(world: World, case_id: str, stem: str) -> bool:
    envelope, queue, server = _envelope(world, case_id)
    with server:
        try:
            open_envelope(envelope, recipient=world.identity(stem).box_private,
                          trusted_signers=server.trusted_bot_keys(), case_id=case_id, queue=queue, kinds={Kind.REQUEST})
        except NotARecipient:
            return False
    return True


# -- init and keys ------------------------------------------------------------------


def test_init_made_a_home_and_says_what_to_do_next(world: World) -> None:
    assert "roster init" in world.init_output
    for name in ("config.toml", "secrets", "waystation.db", "roster.json", "trusted_admins"):
        assert (world.home / name).exists(), name
    assert stat.S_IMODE(os.stat(world.home).st_mode) == 0o700


def test_keys_new_writes_a_private_and_a_public_file_and_prints_the_fingerprint(world: World) -> None:
    private, public = world.key("carol"), Path(f"{world.key('carol')}.pub")
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    identity = world.identity("carol")
    stored = private.read_bytes()
    assert b'"argon2id13"' in stored
    for secret in (bytes(identity.signing_key), bytes(identity.box_private)):
        assert base64.b64encode(secret) not in stored and secret.hex().encode() not in stored
    assert identity.name == "Carol Caseworker"
    assert load_public(public.read_bytes()) == identity.public
    assert identity.public.fingerprint() == world.fingerprints["carol"]
    shown = ok("keys", "fingerprint", public).stdout
    assert shown.strip() == f"Carol Caseworker: {world.fingerprints['carol']}"
    assert len(set(world.fingerprints.values())) == len(world.fingerprints)


# -- roster -----------------------------------------------------------------------


def test_roster_show_verifies_and_lists_every_member(world: World) -> None:
    out = ok("roster", "show", "--home", world.home).stdout
    assert "signature verified" in out
    for name in ["Ada Admin", *PEOPLE]:
        assert name in out
    for stem in ("admin", "carol", "erin", "dan", "vera"):
        assert world.fingerprints[stem] in out


def test_roster_show_json_lists_roles_queues_and_state(world: World) -> None:
    shown = json.loads(ok("roster", "show", "--home", world.home, "--json").stdout)
    members = {m["name"]: m for m in shown["members"]}
    assert set(members) == {"Ada Admin", *PEOPLE}
    assert members["Ada Admin"]["role"] == "admin"
    for name, (stem, role, queues) in PEOPLE.items():
        assert (members[name]["role"], tuple(members[name]["queues"])) == (role, queues)
        assert members[name]["fingerprint"] == world.fingerprints[stem]
        assert members[name]["active"] is True and members[name]["revoked"] is None
    assert shown["serial"] == 1 + len(PEOPLE)
    assert shown["expires"] > shown["issued"]


# -- submit and stats ------------------------------------------------------------------


def test_submit_prints_the_case_and_the_persons_reference(fresh: World) -> None:
    out = _submit(fresh, {"help": "documents", "urgency": "today"}).stdout
    found = CASE_LINE.search(out)
    assert found and found.group(2) == "main", out
    reference = re.search(r"^reference for the person: ([\d ]+)$", out, re.MULTILINE)
    assert reference and len(normalise_reference(reference.group(1))) == 16, out


def test_submit_json_gives_id_queue_and_reference(fresh: World) -> None:
    result = _submit_json(fresh, {"answers": {"help": "visa"}, "language": "ru"}, "--queue", "other")
    assert re.fullmatch(r"[a-z0-9]{16}", result["id"])
    assert result["queue"] == "other"
    assert len(normalise_reference(result["reference"])) == 16


def test_queue_stats_count_by_queue_and_status(fresh: World) -> None:
    assert json.loads(ok("queue", "stats", "--home", fresh.home, "--json").stdout) == {"queues": {}}
    assert "no cases" in ok("queue", "stats", "--home", fresh.home).stdout
    for _ in range(2):
        _submit(fresh, {"help": "x"})
    _submit(fresh, {"help": "y"}, "--queue", "other")
    stats = json.loads(ok("queue", "stats", "--home", fresh.home, "--json").stdout)
    assert stats == {"queues": {"main": {"new": 2, "claimed": 0, "closed": 0},
                                "other": {"new": 1, "claimed": 0, "closed": 0}}}
    text = ok("queue", "stats", "--home", fresh.home).stdout
    assert re.search(r"^main\s+2\s+0\s+0$", text, re.MULTILINE), text
    assert re.search(r"^other\s+1\s+0\s+0$", text, re.MULTILINE), text


# -- staff: direct mode ----------------------------------------------------------------


def test_staff_list_and_show_decrypt_with_options_before_or_after_the_subcommand(fresh: World) -> None:
    first = _submit_json(fresh, {"answers": {"help": "Нужна помощь", "urgency": "now"}, "language": "ru"})["id"]
    second = _submit_json(fresh, {"help": "shelter"})["id"]
    key = fresh.key("carol")
    before: tuple[str | Path, ...] = ("staff", "--home", fresh.home, "--key", key)
    placements: list[tuple[str | Path, ...]] = [
        (*before, "list"),
        ("staff", "list", "--home", fresh.home, "--key", key),
        ("staff", "--home", fresh.home, "list", "--key", key),
    ]
    for args in placements:
        text = ok(*args).stdout
        assert first in text and second in text, text
        assert "now / Нужна помощь" in text
    placements = [(*before, "list", "--json"), ("staff", "list", "--json", "--home", fresh.home, "--key", key)]
    for args in placements:
        listed = json.loads(ok(*args).stdout)
        assert sorted(c["id"] for c in listed) == sorted([first, second])  # one time bucket: no order between them
        assert all(c["readable"] == "ok" for c in listed)
        answers = next(c for c in listed if c["id"] == first)["request"]["answers"]
        assert answers == {"help": "Нужна помощь", "urgency": "now"}
    text = ok(*before, "show", first[:8]).stdout
    assert f"case {first}" in text and "help: Нужна помощь" in text and "language ru" in text
    shown = json.loads(ok("staff", "show", "--home", fresh.home, "--key", key, "--json", first).stdout)
    assert shown["id"] == first
    assert shown["request"]["answers"]["help"] == "Нужна помощь"
    assert shown["events"] == []


def test_revoked_caseworker_cannot_read_new_cases(fresh: World) -> None:
    before = _submit_json(fresh, {"help": "before revocation"})["id"]
    out = ok("roster", "revoke", "--home", fresh.home, "--admin", fresh.key("admin"), "Erin Caseworker").stdout
    assert "revoked Erin Caseworker" in out
    members = {m["name"]: m for m in json.loads(ok("roster", "show", "--home", fresh.home, "--json").stdout)["members"]}
    assert members["Erin Caseworker"]["active"] is False and members["Erin Caseworker"]["revoked"] is not None
    after = _submit_json(fresh, {"help": "after revocation"})["id"]

    assert _opens_for(fresh, before, "erin")
    assert not _opens_for(fresh, after, "erin")
    assert _opens_for(fresh, after, "carol")
    assert_user_error(run("staff", "list", "--home", fresh.home, "--key", fresh.key("erin")), "revoked")
    assert_user_error(run("staff", "show", "--home", fresh.home, "--key", fresh.key("erin"), after), "revoked")
    listed = json.loads(ok("staff", "list", "--home", fresh.home, "--key", fresh.key("carol"), "--json").stdout)
    assert {c["id"] for c in listed} == {before, after}


def test_caseworker_of_another_queue_sees_nothing_of_main_and_is_told_so(fresh: World) -> None:
    case_id = _submit_json(fresh, {"help": "only for main"})["id"]
    key = fresh.key("dan")
    assert "no cases in your queues" in ok("staff", "list", "--home", fresh.home, "--key", key).stdout
    assert json.loads(ok("staff", "list", "--home", fresh.home, "--key", key, "--json").stdout) == []
    line = assert_user_error(run("staff", "show", "--home", fresh.home, "--key", key, case_id), "queue 'main'")
    assert "only for main" not in line
    assert not _opens_for(fresh, case_id, "dan")


@pytest.mark.parametrize(("stem", "role"), [("vera", "volunteer"), ("admin", "admin")])
def test_volunteer_and_admin_keys_read_nothing_and_are_told_so(fresh: World, stem: str, role: str) -> None:
    case_id = _submit_json(fresh, {"help": "not for them"})["id"]
    for args in (("list",), ("show", case_id)):
        result = run("staff", *args, "--home", fresh.home, "--key", fresh.key(stem))
        line = assert_user_error(result, role, "reads no")
        assert "not for them" not in result.stdout + line
    assert not _opens_for(fresh, case_id, stem)


def test_key_that_is_not_on_the_roster_reads_nothing(fresh: World, tmp_path: Path) -> None:
    _submit(fresh, {"help": "x"})
    stranger = tmp_path / "stranger.key"
    ok("keys", "new", "--name", "Carol Caseworker", "--out", stranger, "--kdf", "interactive")
    assert_user_error(run("staff", "list", "--home", fresh.home, "--key", stranger), "not on the roster")


def test_admin_with_a_cyrillic_name_can_start_the_roster(tmp_path: Path) -> None:
    ok("init", tmp_path / "home")
    ok("keys", "new", "--name", "Алексей Админ", "--out", tmp_path / "admin.key", "--kdf", "interactive")
    ok("roster", "init", "--home", tmp_path / "home", "--admin", tmp_path / "admin.key")
    assert "Алексей Админ" in ok("roster", "show", "--home", tmp_path / "home").stdout


def test_caseworker_with_a_cyrillic_name_is_added_and_shown(fresh: World, tmp_path: Path) -> None:
    key = tmp_path / "olga.key"
    ok("keys", "new", "--name", "Ольга Петрова", "--out", key, "--kdf", "interactive")
    ok("roster", "add", "--home", fresh.home, "--admin", fresh.key("admin"), "--role", "caseworker",
       "--queue", "main", f"{key}.pub")
    assert "Ольга Петрова" in ok("roster", "show", "--home", fresh.home).stdout
    case_id = _submit_json(fresh, {"help": "x"})["id"]
    shown = json.loads(ok("staff", "show", case_id, "--home", fresh.home, "--key", key, "--json").stdout)
    assert shown["id"] == case_id


# -- help -------------------------------------------------------------------------


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # click's API: the top group loads its commands when asked
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, prefix + (name,)))
        else:
            paths.append(prefix + (name,))
    return paths


def test_every_command_and_subcommand_has_help() -> None:
    from waystation.cli import main

    paths = _command_paths(main)
    expected = {("init",), ("keys", "new"), ("roster", "init"), ("roster", "add"), ("roster", "revoke"),
                ("roster", "show"), ("submit",), ("queue", "stats"), ("staff", "list"), ("staff", "show")}
    assert expected <= set(paths)
    env = child_env()
    running = [(path, subprocess.Popen(waystation_command() + [*path, "--help"], stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env))
               for path in paths]
    failures = []
    for path, proc in running:
        out, err = proc.communicate(timeout=TIMEOUT)
        if proc.returncode != 0 or b"Usage:" not in out or b"Traceback" in err:
            failures.append(f"{' '.join(path) or '(main)'}: {proc.returncode} {err.decode()[-300:]}")
    assert not failures, "\n".join(failures)


def test_the_entry_point_imports_a_command_only_when_it_is_used() -> None:
    """`waystation` (and each staff list worker, which imports it again) does not load every command's modules."""
    from waystation.cli import LAZY_COMMANDS, main

    heavy = ("staff.remote", "staff.direct", "sandbox.app", "bot.app", "telegram", "httpx", "starlette", "uvicorn")
    probe = ("import sys, waystation.cli; "
             f"print(' '.join(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True, env=child_env())
    assert loaded.stdout.decode().split() == [], loaded.stdout
    ctx = click.Context(main)
    for name in LAZY_COMMANDS:  # each name loads the command of that name
        command = main.get_command(ctx, name)
        assert command is not None and command.name == name
    assert main.get_command(ctx, "no-such-command") is None


def test_revoking_an_admin_unpins_their_key(tmp_path: Path) -> None:
    """A revoked admin must not be able to sign a roster that re-adds them."""
    staffed = build_staffed_home(tmp_path / "home")
    second = Identity.generate("Second Admin")
    with staffed.open() as server:
        t = int(time.time())
        roster = server.roster(t).with_member(Member(second.public, Role.ADMIN, (), t, t + 30 * DAY), t, 30)
        server.save_roster(sign_roster(roster, staffed.admin), t,
                           new_admins=[(second.signing_key.verify_key, second.name)])
    key_file = tmp_path / "admin.key"
    key_file.write_bytes(dump_identity(staffed.admin, b"pw", KDF_MINIMUM))
    result = subprocess.run([sys.executable, "-m", "waystation", "roster", "revoke", "--home", str(staffed.root),
                             "--admin", str(key_file), "Second Admin"],
                            capture_output=True, text=True, env={**os.environ, "WAYSTATION_PASSPHRASE": "pw"})
    assert result.returncode == 0, result.stderr
    with staffed.open() as server:
        assert second.signing_key.verify_key not in server.home.trusted_admins()
        assert staffed.admin.signing_key.verify_key in server.home.trusted_admins()
