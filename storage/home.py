"""The server home: one directory holding config, secrets, roster and database.

    HOME/                   0700
      config.toml           settings (no secrets)
      roster.json           the signed roster (written by `waystation roster ...`)
      trusted_admins        admin signing keys that may sign the roster, one base64 key a line
      waystation.db         the SQLCipher database (+ -wal / -shm while open)
      chats.state           pending deletions and send intents, sealed (storage/chatstate.py); only the present
      secrets/              0700
        db.key              database key, 64 hex characters
        bot_identity.json   the bot's signing and encryption keys, unencrypted (see docs)
        reference_pepper    salt for the slow hash of case references, 32 hex characters
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import nacl.utils
from nacl.signing import VerifyKey

from crypto.encoding import b64, unb64
from crypto.errors import CryptoError
from crypto.keys import Identity, dump_identity
from crypto.reference import PEPPER_SIZE, pepper_check
from storage.config import DEFAULT_CONFIG
from storage.db import (
    KEY_SIZE,
    Connection,
    Database,
    DatabaseError,
    DatabaseKey,
    database_failure,
)
from storage.errors import (
    DatabaseKeyMissing,
    DatabaseKeyRejected,
    HomeInvalid,
    SecretsExposed,
    StorageError,
)
from storage.files import make_private_dir, replace, write_new

DB_KEY_ENV = "WAYSTATION_DB_KEY"
DB_KEY_CREDENTIAL = "waystation-db-key"
#: meta key of the pepper's check value (crypto.reference.pepper_check), hex.
PEPPER_CHECK_KEY = "pepper_check"
#: meta key of the bot signing keys this database was used with, oldest first, base64 in a JSON list: the last
#: is the key of the newest bot identity. A restored bot identity older than that is then told (doctor).
BOT_KEYS_KEY = "bot_keys"


class KeySource(StrEnum):
    """Where the database key was read from, in the order they are tried."""

    ENVIRONMENT = "environment"
    CREDENTIAL = "credential"
    FILE = "file"


@dataclass(frozen=True)
class KeyOrigin:
    """Where the database key came from (said by every command that opens the database; never the key)."""

    source: KeySource
    #: The variable's name, the credential's path or the key file's path.
    where: str
    #: secrets/db.key exists but was not used, because the environment or a credential comes first.
    shadowed_file: Path | None = None

    def describe(self) -> str:
        """The source in words, e.g. "the systemd credential 'waystation-db-key' (/run/credentials/...)"."""
        if self.source is KeySource.ENVIRONMENT:
            return f"the environment variable {self.where}"
        if self.source is KeySource.CREDENTIAL:
            return f"the systemd credential '{DB_KEY_CREDENTIAL}' ({self.where})"
        return self.where


@dataclass(frozen=True)
class FoundKey:
    """The database key and its origin."""

    key: DatabaseKey = field(repr=False)
    origin: KeyOrigin


@dataclass(frozen=True)
class Home:
    """Paths of one server home."""

    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def db_path(self) -> Path:
        return self.root / "waystation.db"

    @property
    def roster_path(self) -> Path:
        return self.root / "roster.json"

    @property
    def trusted_admins_path(self) -> Path:
        return self.root / "trusted_admins"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def db_key_path(self) -> Path:
        return self.secrets / "db.key"

    @property
    def bot_identity_path(self) -> Path:
        return self.secrets / "bot_identity.json"

    @property
    def pepper_path(self) -> Path:
        return self.secrets / "reference_pepper"

    def require(self) -> Home:
        """Raise HomeInvalid unless this looks like an initialised home."""
        if not self.root.is_dir():
            raise HomeInvalid(f"{self.root} is not a directory: run 'waystation init {self.root}' first")
        if not self.config_path.is_file():
            raise HomeInvalid(f"{self.root} is not a Waystation home (no config.toml)")
        return self

    # -- secrets ---------------------------------------------------------------

    def db_key(self, environ: Mapping[str, str] = os.environ) -> DatabaseKey:
        """The database key from WAYSTATION_DB_KEY, a systemd credential, or secrets/db.key."""
        return self.find_db_key(environ).key

    def find_db_key(self, environ: Mapping[str, str] = os.environ) -> FoundKey:
        """The database key and its source: WAYSTATION_DB_KEY, else a systemd credential, else secrets/db.key."""
        shadowed = self.db_key_path if self.db_key_path.is_file() else None
        if environ.get(DB_KEY_ENV):
            return FoundKey(_parse_hex_key(environ[DB_KEY_ENV], DB_KEY_ENV),
                            KeyOrigin(KeySource.ENVIRONMENT, DB_KEY_ENV, shadowed))
        credential = credential_key_path(environ)
        if credential is not None:
            key = _parse_hex_key(credential.read_text(encoding="ascii", errors="replace"), str(credential))
            return FoundKey(key, KeyOrigin(KeySource.CREDENTIAL, str(credential), shadowed))
        try:
            text = self.db_key_path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError as err:
            raise DatabaseKeyMissing(
                f"no database key: set {DB_KEY_ENV}, provide the systemd credential "
                f"'{DB_KEY_CREDENTIAL}', or restore {self.db_key_path}"
            ) from err
        return FoundKey(_parse_hex_key(text, str(self.db_key_path)), KeyOrigin(KeySource.FILE, str(self.db_key_path)))

    def file_key(self) -> DatabaseKey | None:
        """The key in secrets/db.key, whatever else supplies one; None if the file is missing or malformed."""
        try:
            return _parse_hex_key(self.db_key_path.read_text(encoding="ascii", errors="replace"), "")
        except (OSError, DatabaseKeyRejected):
            return None

    def exposed_secrets(self) -> list[tuple[Path, int, int]]:
        """secrets/ and every file in it that group or others may use: (path, its mode, the mode it needs)."""
        places = [self.secrets, *sorted(self.secrets.iterdir())] if self.secrets.is_dir() else []
        found = []
        for path in places:
            problem = exposed(path)
            if problem is not None:
                found.append((path, *problem))
        return found

    def require_private_secrets(self) -> None:
        """Refuse to go on while a secret (or secrets/ itself) is open to other users: one line, with the chmod."""
        exposed_list = self.exposed_secrets()
        if not exposed_list:
            return
        path, mode, want = exposed_list[0]
        more = f" (and {len(exposed_list) - 1} more: 'waystation doctor --home {self.root}' lists them)" \
            if len(exposed_list) > 1 else ""
        raise SecretsExposed(f"{path} is open to other users (mode {mode:04o}){more}: run 'chmod {want:o} {path}'; "
                             "the bot does not start while a secret can be read by anyone but its owner")

    def pepper(self) -> bytes:
        """The per-server salt of reference hashes (its check value is verified by Server.pepper)."""
        try:
            pepper = bytes.fromhex(self.pepper_path.read_text(encoding="ascii").strip())
        except (OSError, ValueError) as err:
            raise HomeInvalid(f"{self.pepper_path} is missing or damaged") from err
        if len(pepper) != PEPPER_SIZE:
            raise HomeInvalid(f"{self.pepper_path} is damaged: it must hold {PEPPER_SIZE * 2} hex characters")
        return pepper

    def trusted_admins(self) -> list[VerifyKey]:
        """Admin keys pinned as the roster's trust anchor."""
        if not self.trusted_admins_path.exists():
            return []
        keys: list[VerifyKey] = []
        for number, line in enumerate(self.trusted_admins_path.read_text(encoding="utf-8").splitlines(), 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                keys.append(VerifyKey(unb64(text, 32, "admin key", CryptoError)))
            except CryptoError as err:
                raise HomeInvalid(f"{self.trusted_admins_path} line {number}: {err}") from err
        return keys

    def add_trusted_admin(self, key: VerifyKey, name: str) -> None:
        """Pin one more admin key."""
        if key in self.trusted_admins():
            return
        old = self.trusted_admins_path.read_bytes() if self.trusted_admins_path.exists() else b""
        safe_name = "".join(ch for ch in name if ch.isprintable())
        replace(self.trusted_admins_path, old + f"{b64(bytes(key))}  # {safe_name}\n".encode())

    def remove_trusted_admin(self, key: VerifyKey) -> None:
        """Unpin an admin key (after revoking that admin): it can no longer sign a roster here."""
        if self.trusted_admins_path.exists():
            text = self.trusted_admins_path.read_text(encoding="utf-8")
            replace(self.trusted_admins_path, _remove_line_for(text, key).encode("utf-8"))


def bot_key_history(conn: Connection) -> list[str]:
    """The bot signing keys (base64) recorded in the database, oldest first; [] if none (or unreadable)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (BOT_KEYS_KEY,)).fetchone()
    try:
        keys = json.loads(str(row[0])) if row is not None else []
    except ValueError:
        return []
    return [str(k) for k in keys] if isinstance(keys, list) else []


def record_bot_key(db: Database, key: VerifyKey) -> None:
    """Note `key` as the newest bot key this database is used with (nothing if it already is)."""
    with db.transaction() as conn:
        history = bot_key_history(conn)
        encoded = b64(bytes(key))
        if history[-1:] != [encoded]:
            db.set_meta(conn, BOT_KEYS_KEY, json.dumps([*history, encoded]))


def credential_key_path(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The systemd credential file that holds the database key, if one is provided."""
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / DB_KEY_CREDENTIAL).is_file():
        return Path(credentials) / DB_KEY_CREDENTIAL
    return None


def exposed(path: Path) -> tuple[int, int] | None:
    """(mode, wanted mode) if group or others have any access to `path`; None if private, a link or missing.

    Directories must be 0700 and files 0600: the rule doctor checks and the bot enforces at start.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return None
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o077:
        return None
    return mode, 0o700 if stat.S_ISDIR(info.st_mode) else 0o600


def key_rejected(origin: KeyOrigin, db_path: Path, rotation: str | None = None) -> DatabaseKeyRejected:
    """The error for a key that does not open the database: the source tried and, if any, the key file it shadowed.

    `rotation` is the advice when a database key rotation was interrupted on this home (see ops.rekey).
    """
    text = f"the database key from {origin.describe()} does not open {db_path} (or the file's first page is damaged)"
    if rotation is not None:
        return DatabaseKeyRejected(f"{text}: {rotation}")
    if origin.shadowed_file is not None:
        text += (f"; {origin.shadowed_file} is also there but was not used, because {origin.describe()} comes first: "
                 "if that file holds the key restored with this database, install it where the key is supplied "
                 "(docs/operations.md, 'Restore from a backup')")
    return DatabaseKeyRejected(f"{text}; if the key is right, restore the newest backup")


def _remove_line_for(text: str, key: VerifyKey) -> str:
    encoded = b64(bytes(key))
    return "".join(line for line in text.splitlines(keepends=True) if line.split("#", 1)[0].strip() != encoded)


def _parse_hex_key(text: str, where: str) -> DatabaseKey:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError as err:
        raise DatabaseKeyRejected(f"the database key in {where} is not hexadecimal") from err
    if len(key) != KEY_SIZE:
        raise DatabaseKeyRejected(f"the database key in {where} must be {KEY_SIZE * 2} hex characters")
    return DatabaseKey(key)


def init_home(root: Path) -> Home:
    """Create a new home: config, secrets and an empty database. Refuses an existing, non-empty path."""
    home = Home(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise HomeInvalid(f"{root} already exists and is not empty: refusing to overwrite it")
    created = not root.exists()
    if created:
        make_private_dir(root)
    os.chmod(root, 0o700)
    try:
        make_private_dir(home.secrets)
        write_new(home.config_path, DEFAULT_CONFIG.encode("utf-8"))
        key = DatabaseKey(nacl.utils.random(KEY_SIZE))
        write_new(home.db_key_path, key.hex().encode("ascii") + b"\n")
        pepper = nacl.utils.random(PEPPER_SIZE)
        write_new(home.pepper_path, pepper.hex().encode("ascii") + b"\n")
        bot = Identity.generate("bot")
        write_new(home.bot_identity_path, dump_identity(bot, None))
        with Database.open(home.db_path, key, create=True) as db, db.transaction() as conn:
            db.set_meta(conn, PEPPER_CHECK_KEY, pepper_check(pepper).hex())
            db.set_meta(conn, BOT_KEYS_KEY, json.dumps([b64(bytes(bot.signing_key.verify_key))]))
    except (OSError, DatabaseError, StorageError) as err:
        # Everything in the home was made just now (it was new or empty): a half-made home is removed,
        # so that running init again after fixing the cause (a full disk, say) works.
        if created:
            shutil.rmtree(root, ignore_errors=True)
        else:
            for child in list(root.iterdir()):
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        if isinstance(err, DatabaseError):
            why = str(database_failure(err, home.db_path))
        else:
            why = (err.strerror if isinstance(err, OSError) else None) or str(err)
        raise StorageError(f"could not create the home at {root} ({why}); nothing was left behind: "
                           "fix the cause and run 'waystation init' again") from err
    return home
