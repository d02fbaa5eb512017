"""User mistakes at the command line: a non-zero exit, one 'Error:' line on stderr, never a traceback."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from crypto.keys import KDF_MINIMUM, dump_identity, dump_public
from crypto.padding import MAX_PAYLOAD
from intake.requests import Request, submit
from tests.cli.runner import PASSPHRASE, assert_user_error, ok, run
from tests.conftest import build_staffed_home

pytestmark = pytest.mark.timeout(60)


@dataclass(frozen=True)
class Site:
    """A staffed home with every person's key written to files, as `keys new` would."""

    home: Path
    keys: Path

    def key(self, name: str) -> Path:
        return self.keys / f"{name}.key"

    def pub(self, name: str) -> Path:
        return self.keys / f"{name}.key.pub"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    base = tmp_path_factory.mktemp("site")
    staffed = build_staffed_home(base / "home")
    keys = base / "keys"
    keys.mkdir()
    for name, identity in [("admin", staffed.admin), *staffed.staff.items()]:
        (keys / f"{name}.key").write_bytes(dump_identity(identity, PASSPHRASE.encode(), KDF_MINIMUM))
        (keys / f"{name}.key.pub").write_bytes(dump_public(identity.public))
    with staffed.open() as server:  # one case to look at
        submit(server, Request({"help": "x"}), int(time.time()))
    return Site(staffed.root, keys)


@pytest.fixture
def own(site: Site, tmp_path: Path) -> Site:
    """A private copy of the site's home, for tests that change files in it."""
    shutil.copytree(site.home, tmp_path / "home")
    return Site(tmp_path / "home", site.keys)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- keys and passphrases --------------------------------------------------------------


def test_wrong_passphrase(site: Site) -> None:
    result = run("staff", "list", "--home", site.home, "--key", site.key("cas-main"), passphrase="not the passphrase")
    assert_user_error(result, "cas-main.key", "wrong passphrase")


def test_missing_key_file(site: Site, tmp_path: Path) -> None:
    assert_user_error(run("staff", "list", "--home", site.home, "--key", tmp_path / "nobody.key"), "no key file")
    assert_user_error(run("roster", "revoke", "--home", site.home, "--admin", tmp_path / "nobody.key", "vol"),
                      "no key file")


def test_public_key_given_where_the_private_key_is_needed(site: Site) -> None:
    assert_user_error(run("staff", "list", "--home", site.home, "--key", site.pub("cas-main")), "public key file")
    assert_user_error(run("roster", "revoke", "--home", site.home, "--admin", site.pub("admin"), "vol"),
                      "public key file")


def test_public_key_given_without_a_passphrase_is_named_as_such(site: Site) -> None:
    result = run("staff", "list", "--home", site.home, "--key", site.pub("cas-main"), passphrase=None)
    assert_user_error(result, "public key file")


def test_private_key_given_where_a_public_key_is_needed(site: Site) -> None:
    result = run("roster", "add", "--home", site.home, "--admin", site.key("admin"), "--role", "caseworker",
                 "--queue", "main", site.key("cas-other"))
    assert_user_error(result, "not a Waystation public key file")


def test_keys_new_refuses_to_overwrite_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "me.key"
    target.write_text("precious")
    result = run("keys", "new", "--name", "Me", "--out", target, "--kdf", "interactive")
    assert_user_error(result, "already exists")
    assert target.read_text() == "precious"
    assert not Path(f"{target}.pub").exists()


def test_keys_new_refuses_when_only_the_public_file_exists(tmp_path: Path) -> None:
    Path(f"{tmp_path / 'me.key'}.pub").write_text("precious")
    assert_user_error(run("keys", "new", "--name", "Me", "--out", tmp_path / "me.key", "--kdf", "interactive"),
                      "already exists")
    assert not (tmp_path / "me.key").exists()


@pytest.mark.parametrize("passphrase", [None, ""])
def test_keys_new_without_a_terminal_or_passphrase_is_refused(tmp_path: Path, passphrase: str | None) -> None:
    result = run("keys", "new", "--name", "Me", "--out", tmp_path / "me.key", "--kdf", "interactive",
                 passphrase=passphrase)
    assert_user_error(result, "WAYSTATION_PASSPHRASE")
    assert list(tmp_path.iterdir()) == []


def test_keys_new_into_a_missing_directory(tmp_path: Path) -> None:
    result = run("keys", "new", "--name", "Me", "--out", tmp_path / "missing" / "me.key", "--kdf", "interactive")
    assert_user_error(result, "No such file or directory")


def test_key_file_that_is_not_a_key(site: Site, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"\x00\x01 this is not a key file")
    assert_user_error(run("staff", "list", "--home", site.home, "--key", garbage), "key file")


def test_keys_new_refuses_a_bad_name(tmp_path: Path) -> None:
    assert_user_error(run("keys", "new", "--name", "trailing ", "--out", tmp_path / "me.key", "--kdf", "interactive"),
                      "name")
    assert list(tmp_path.iterdir()) == []


# -- homes, config, database key --------------------------------------------------------


def test_init_over_an_existing_home(site: Site) -> None:
    before = _snapshot(site.home)
    assert_user_error(run("init", site.home), "already exists")
    assert _snapshot(site.home) == before


def test_init_under_a_missing_parent(tmp_path: Path) -> None:
    assert_user_error(run("init", tmp_path / "missing" / "home"), "No such file or directory")
    assert not (tmp_path / "missing").exists()


def test_home_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-home"
    for args in (("queue", "stats", "--home", missing), ("roster", "show", "--home", missing)):
        assert_user_error(run(*args), "waystation init")
    assert_user_error(run("submit", "--home", missing, stdin=b'{"help": "x"}'), "waystation init")
    assert not missing.exists()


def test_wrong_database_key_in_the_environment_is_refused_and_file_untouched(own: Site) -> None:
    before = _snapshot(own.home)
    result = run("queue", "stats", "--home", own.home, env={"WAYSTATION_DB_KEY": "ab" * 32})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    # It names the source it tried, and the key file it came before (the home keeps its db.key here).
    assert result.stderr.splitlines()[-1].startswith(
        "Error: the database key from the environment variable WAYSTATION_DB_KEY does not open")
    assert "secrets/db.key is also there but was not used" in result.stderr
    assert _snapshot(own.home) == before


def test_wrong_database_key_in_the_environment_is_one_error_line(site: Site) -> None:
    result = run("queue", "stats", "--home", site.home, env={"WAYSTATION_DB_KEY": "ab" * 32})
    assert_user_error(result, "database key")


def test_malformed_database_key_in_the_environment(site: Site) -> None:
    assert_user_error(run("queue", "stats", "--home", site.home, env={"WAYSTATION_DB_KEY": "not-a-key"}),
                      "WAYSTATION_DB_KEY", "not hexadecimal")


def test_missing_database_key_file(own: Site) -> None:
    (own.home / "secrets" / "db.key").unlink()
    assert_user_error(run("queue", "stats", "--home", own.home), "WAYSTATION_DB_KEY", "db.key")


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ("[queues\ndefault = 'main'\n", "not valid TOML"),
        ("[queues]\ndefualt = 'main'\n", "queues.defualt"),
        ("[privacy]\ndelete_after_seconds = 'soon'\n", "privacy.delete_after_seconds"),
        ("[staff_api]\nlisten = 'everywhere'\n", "staff_api.listen"),
    ],
)
def test_corrupt_config(own: Site, config: str, named: str) -> None:
    (own.home / "config.toml").write_text(config)
    assert_user_error(run("queue", "stats", "--home", own.home), named)


def test_config_that_is_not_utf8(own: Site) -> None:
    (own.home / "config.toml").write_bytes(b"\xff\xfe\x00garbage")
    assert_user_error(run("queue", "stats", "--home", own.home), "config.toml")


def test_roster_validity_beyond_the_calendar_is_refused_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok("init", home)
    config = (home / "config.toml").read_text().replace("valid_days = 180", "valid_days = 100000000")
    (home / "config.toml").write_text(config)
    ok("keys", "new", "--name", "Ada", "--out", tmp_path / "a.key", "--kdf", "interactive")
    started = run("roster", "init", "--home", home, "--admin", tmp_path / "a.key")
    if started.returncode != 0:
        assert_user_error(started)
        return
    shown = run("roster", "show", "--home", home)
    if shown.returncode != 0:
        assert_user_error(shown)


# -- submit ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stdin", "fragment"),
    [
        (b"{not json", "not a JSON object"),
        (b"", "not a JSON object"),
        (b"\xff\xfe{}", "not a JSON object"),
        (b'["help", "x"]', "must be a JSON object"),
        (b'"help"', "must be a JSON object"),
        (b"{}", "at least one answer"),
        (b'{"help": 5}', "must be text"),
        (b'{"answers": {"help": "x"}, "language": "e"}', "language"),
        (b"{" + b'"k": "' + b"x" * MAX_PAYLOAD + b'"}', "larger than"),
    ],
)
def test_submit_bad_stdin(own: Site, stdin: bytes, fragment: str) -> None:
    before = _snapshot(own.home)
    assert_user_error(run("submit", "--home", own.home, stdin=stdin), fragment)
    assert _snapshot(own.home) == before


def test_submit_too_long_after_encoding(own: Site) -> None:
    # stdin fits the limit, but the sealed payload adds language, channel and hour, and does not
    answers: dict[str, str] = {f"a{i}": "ж" * 4000 for i in range(8)}
    answers["fill"] = ""
    size = len(json.dumps(answers, ensure_ascii=False, separators=(",", ":")).encode())
    answers["fill"] = "x" * (MAX_PAYLOAD - 10 - size)
    stdin = json.dumps(answers, ensure_ascii=False, separators=(",", ":")).encode()
    assert MAX_PAYLOAD - 20 < len(stdin) <= MAX_PAYLOAD
    assert_user_error(run("submit", "--home", own.home, stdin=stdin), "too long")


@pytest.mark.parametrize(("queue", "fragment"), [("nobody", "no active caseworker"), ("Not A Queue", "queue")])
def test_submit_to_a_queue_without_caseworker(own: Site, queue: str, fragment: str) -> None:
    before = json.loads(ok("queue", "stats", "--home", own.home, "--json").stdout)
    assert_user_error(run("submit", "--home", own.home, "--queue", queue, stdin=b'{"help": "x"}'), fragment)
    assert json.loads(ok("queue", "stats", "--home", own.home, "--json").stdout) == before


# -- staff and roster ------------------------------------------------------------------


@pytest.mark.parametrize("case", ["zzzzzzzzzzzzzzzz", "abc", "a*", "'; DROP TABLE cases; --"])
def test_staff_show_of_an_unknown_case(site: Site, case: str) -> None:
    result = run("staff", "show", "--home", site.home, "--key", site.key("cas-main"), case)
    assert_user_error(result, "no such case")


def test_staff_without_home_is_a_usage_error(site: Site) -> None:
    result = run("staff", "list", "--key", site.key("cas-main"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "Error: --home is required" in result.stderr


def test_roster_add_of_a_duplicate_name(own: Site, tmp_path: Path) -> None:
    before = _snapshot(own.home)
    result = run("roster", "add", "--home", own.home, "--admin", own.key("admin"), "--role", "caseworker",
                 "--queue", "main", own.pub("cas-main"))
    assert_user_error(result, "already has a member called 'cas-main'")
    assert _snapshot(own.home) == before


def test_roster_add_of_a_caseworker_without_a_queue(own: Site, tmp_path: Path) -> None:
    ok("keys", "new", "--name", "New Person", "--out", tmp_path / "new.key", "--kdf", "interactive")
    result = run("roster", "add", "--home", own.home, "--admin", own.key("admin"), "--role", "caseworker",
                 tmp_path / "new.key.pub")
    assert_user_error(result, "queue")


def test_roster_change_signed_by_a_non_admin(own: Site) -> None:
    result = run("roster", "revoke", "--home", own.home, "--admin", own.key("cas-main"), "vol")
    assert_user_error(result, "admin")


def test_roster_revoke_of_an_unknown_name(own: Site) -> None:
    before = _snapshot(own.home)
    assert_user_error(run("roster", "revoke", "--home", own.home, "--admin", own.key("admin"), "Nobody"),
                      "no member called 'Nobody'")
    assert _snapshot(own.home) == before


def test_roster_revoke_of_the_last_admin(own: Site) -> None:
    assert_user_error(run("roster", "revoke", "--home", own.home, "--admin", own.key("admin"), "Ada Admin"),
                      "last active admin")


def test_roster_init_twice(own: Site) -> None:
    assert_user_error(run("roster", "init", "--home", own.home, "--admin", own.key("admin")), "already has a roster")
