"""The server home: what `init_home` creates, what it refuses, and the pinned admin keys."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from crypto.keys import Identity, load_identity
from crypto.reference import PEPPER_SIZE
from storage.db import KEY_SIZE, Database
from storage.errors import HomeInvalid, StorageError
from storage.home import Home, init_home
from storage.schema import SCHEMA_VERSION
from storage.server import Server

pytestmark = pytest.mark.timeout(30)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every path under root with its mode and, for files, its bytes."""
    found: dict[str, tuple[int, bytes | None]] = {".": (_mode(root), None)}
    for path in sorted(root.rglob("*")):
        found[path.relative_to(root).as_posix()] = (_mode(path), path.read_bytes() if path.is_file() else None)
    return found


def test_init_creates_config_secrets_and_database_with_private_modes(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    assert sorted(p.name for p in home.root.iterdir()) == ["config.toml", "secrets", "waystation.db"]
    assert sorted(p.name for p in home.secrets.iterdir()) == ["bot_identity.json", "db.key", "reference_pepper"]
    assert _mode(home.root) == 0o700
    assert _mode(home.secrets) == 0o700
    for secret in (home.db_key_path, home.bot_identity_path, home.pepper_path):
        assert _mode(secret) == 0o600, secret.name
    assert _mode(home.db_path) == 0o600
    assert _mode(home.config_path) & 0o077 == 0


def test_init_writes_well_formed_secrets_and_a_migrated_database(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    assert len(bytes.fromhex(home.db_key_path.read_text().strip())) == KEY_SIZE
    assert len(home.pepper()) == PEPPER_SIZE
    bot = load_identity(home.bot_identity_path.read_bytes(), None)
    assert bot.name == "bot"
    with Database.open(home.db_path, home.db_key({})) as db:
        assert db.schema_version == SCHEMA_VERSION
    with Server.open(home.root, environ={}) as server:
        assert server.config.queues.default == "main"
        assert server.bot_identity().public == bot.public


def test_two_homes_get_different_secrets(tmp_path: Path) -> None:
    first, second = init_home(tmp_path / "a"), init_home(tmp_path / "b")
    for name in ("db.key", "reference_pepper", "bot_identity.json"):
        assert (first.secrets / name).read_bytes() != (second.secrets / name).read_bytes()


def test_init_accepts_an_existing_empty_directory_and_makes_it_private(tmp_path: Path) -> None:
    root = tmp_path / "home"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    init_home(root)
    assert _mode(root) == 0o700
    assert (root / "waystation.db").is_file()


def test_init_refuses_an_existing_non_empty_directory_without_touching_it(tmp_path: Path) -> None:
    root = tmp_path / "home"
    root.mkdir()
    os.chmod(root, 0o755)
    (root / "notes.txt").write_text("someone's files")
    (root / "sub").mkdir()
    (root / "sub" / "data.bin").write_bytes(b"\x00\x01")
    before = _tree(root)
    with pytest.raises(HomeInvalid, match="not empty"):
        init_home(root)
    assert _tree(root) == before


def test_init_refuses_an_existing_home_without_touching_it(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    before = _tree(home.root)
    with pytest.raises(HomeInvalid):
        init_home(home.root)
    assert _tree(home.root) == before


def test_init_refuses_a_path_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "home"
    path.write_text("not a directory")
    with pytest.raises(HomeInvalid):
        init_home(path)
    assert path.read_text() == "not a directory"


def test_init_under_a_missing_parent_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises((StorageError, OSError)):
        init_home(tmp_path / "missing" / "home")
    assert not (tmp_path / "missing").exists()


def test_require_refuses_a_missing_directory_or_one_without_config(tmp_path: Path) -> None:
    with pytest.raises(HomeInvalid, match="waystation init"):
        Home(tmp_path / "nowhere").require()
    (tmp_path / "empty").mkdir()
    with pytest.raises(HomeInvalid, match="config.toml"):
        Server.open(tmp_path / "empty", environ={})


def test_damaged_pepper_or_bot_identity_is_reported(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    home.pepper_path.write_text("zz\n")
    with pytest.raises(HomeInvalid, match="reference_pepper"):
        home.pepper()
    home.bot_identity_path.write_text("{}")
    with Server.open(home.root, environ={}) as server, pytest.raises(HomeInvalid, match="bot_identity"):
        server.bot_identity()


# -- pinned admin keys -----------------------------------------------------------


def test_trusted_admins_are_pinned_once_and_read_back(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    assert home.trusted_admins() == []
    first, second = Identity.generate("Ada Admin"), Identity.generate("Bo Admin")
    home.add_trusted_admin(first.signing_key.verify_key, first.name)
    home.add_trusted_admin(first.signing_key.verify_key, first.name)
    home.add_trusted_admin(second.signing_key.verify_key, second.name)
    assert home.trusted_admins() == [first.signing_key.verify_key, second.signing_key.verify_key]
    assert _mode(home.trusted_admins_path) == 0o600


def test_damaged_trusted_admins_line_is_reported_with_its_number(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    admin = Identity.generate("Ada Admin")
    home.add_trusted_admin(admin.signing_key.verify_key, admin.name)
    with home.trusted_admins_path.open("a") as f:
        f.write("# a comment\n\nnot-base64!  # broken\n")
    with pytest.raises(HomeInvalid, match="line 4"):
        home.trusted_admins()


def test_trusted_admin_with_a_cyrillic_name_is_read_back(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    admin = Identity.generate("Алексей")
    home.add_trusted_admin(admin.signing_key.verify_key, admin.name)
    assert home.trusted_admins() == [admin.signing_key.verify_key]
