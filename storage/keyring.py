"""The server's key files as every process reads them: retired bot keys and a rotation left half-done.

Kept apart from the rotations themselves (ops/rekey.py), so that opening a server, the bot and
doctor read keys without loading the code that rewrites them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import VerifyKey

from crypto.encoding import b64, dump_object, expect, load_object, unb64
from crypto.errors import CryptoError
from crypto.keys import Identity, load_identity
from storage.errors import HomeInvalid
from storage.home import Home

PREVIOUS_BOT_KEYS = "previous_bot_keys"


ROTATION_MARKER = "db-key-rotation"


PREVIOUS_FORMAT = "waystation-previous-bot-keys"


PREVIOUS_VERSION = 1


def pending_key_path(key_file: Path) -> Path:
    """Where a new key waits while the database is being re-keyed."""
    return key_file.with_name(key_file.name + ".new")


def rotation_marker(home: Home) -> Path:
    """HOME/db-key-rotation: names the key file of a database key rotation in progress."""
    return home.root / ROTATION_MARKER


def interrupted_rotation(home: Home) -> Path | None:
    """The key file of a database key rotation started on this home and not seen to finish, if any.

    Read from the marker (any --key-file), or from secrets/db.key.new (the default key file,
    also after a rotation that stopped before the marker existed).
    """
    try:
        named = rotation_marker(home).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        named = ""
    except (OSError, UnicodeDecodeError):
        named = "KEYFILE"  # there, but unreadable to this user: the advice still applies
    if named:
        return Path(named)
    return home.db_key_path if pending_key_path(home.db_key_path).exists() else None


def rerun_advice(home: Home, key_file: Path) -> str:
    """What to do after an interrupted rotation: run it again with the same key file (never restore a backup)."""
    option = "" if key_file == home.db_key_path else f" --key-file {key_file}"
    return (f"a database key rotation was interrupted on this home: stop the bot and run "
            f"'waystation rotate-db-key --home {home.root}{option}' again, as the user who started it; it keeps "
            "whichever key opens the database (restoring a backup instead would lose every case since it)")


@dataclass(frozen=True)
class PreviousBotKey:
    """A retired bot identity: its public signing key and its X25519 private key."""

    verify_key: VerifyKey
    box_private: PrivateKey
    retired: int


def previous_bot_keys_path(home: Home) -> Path:
    """secrets/previous_bot_keys."""
    return home.secrets / PREVIOUS_BOT_KEYS


def load_previous_bot_keys(home: Home) -> list[PreviousBotKey]:
    """Retired bot keys, oldest first; an absent file means none."""
    path = previous_bot_keys_path(home)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    try:
        obj = load_object(data, "previous bot keys", CryptoError)
        if obj.get("format") != PREVIOUS_FORMAT or obj.get("version") != PREVIOUS_VERSION:
            raise CryptoError("unknown format or version")
        entries = expect(obj, "keys", list, "previous bot keys", CryptoError)
        keys: list[PreviousBotKey] = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise CryptoError("an entry is not an object")
            keys.append(PreviousBotKey(
                VerifyKey(unb64(entry.get("sign"), 32, "signing key", CryptoError)),
                PrivateKey(unb64(entry.get("box_secret"), 32, "box key", CryptoError)),
                expect(entry, "retired", int, "previous bot key", CryptoError),
            ))
    except (CryptoError, ValueError, TypeError) as err:
        raise HomeInvalid(f"{path} is damaged ({err}): restore it from a backup") from err
    return keys


def dump_previous(keys: list[PreviousBotKey]) -> bytes:
    return dump_object({
        "format": PREVIOUS_FORMAT,
        "version": PREVIOUS_VERSION,
        "keys": [{"sign": b64(bytes(k.verify_key)), "box_secret": b64(bytes(k.box_private)), "retired": k.retired}
                 for k in keys],
    }) + b"\n"


def previous_bot_verify_keys(home: Home) -> list[VerifyKey]:
    """Signing keys of retired bot identities, whose envelopes staff still accept."""
    return [k.verify_key for k in load_previous_bot_keys(home)]


def bot_box_keys(home: Home) -> list[PrivateKey]:
    """Every X25519 key a reply handle may be sealed to: the current bot's first, then retired ones."""
    current = load_bot(home)
    return [current.box_private] + [k.box_private for k in reversed(load_previous_bot_keys(home))]


def load_bot(home: Home) -> Identity:
    try:
        return load_identity(home.bot_identity_path.read_bytes(), None)
    except (OSError, CryptoError) as err:
        raise HomeInvalid(f"{home.bot_identity_path} is missing or damaged") from err


