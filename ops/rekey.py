"""Key rotation: a new database key (PRAGMA rekey) and a new bot identity.

Database key, in this order, so that no crash can leave the database under a key that is
written nowhere:

1. the new key is written to KEYFILE.new (fsync'd) while KEYFILE still holds the old one;
2. `PRAGMA rekey` re-encrypts every page in one transaction: after a crash the database is
   wholly under the old key or wholly under the new one, never half;
3. the database is reopened with the new key and checked;
4. the chat state (HOME/chats.state, sealed under a key derived from the database key) is
   re-sealed under the new key, replaced atomically: it too is under one key or the other;
5. KEYFILE is replaced atomically with the new key; 6. KEYFILE.new is removed.

If KEYFILE.new is found later, a rotation was interrupted: `finish_interrupted_rotation`
tries both keys, keeps the one that opens the database, and re-seals the chat state under
it (whichever of the two keys it was under), before KEYFILE.new goes. While a rotation runs, the home
holds a marker (HOME/db-key-rotation) naming KEYFILE: the key file may live outside the home
(`--key-file /etc/credstore/...`), and doctor must still be able to say "run the rotation
again with --key-file KEYFILE" rather than "restore a backup", which would lose every case
since that backup.

Bot identity: the old signing key is kept as a *previous bot key* in
secrets/previous_bot_keys, so that envelopes it signed still verify
(`Server.trusted_bot_keys`), together with the old X25519 private key, so that reply
handles sealed to it still open. The old private *signing* key is not kept: nothing new
is ever signed with it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import nacl.utils

from crypto.keys import (
    Identity,
    PublicIdentity,
    dump_identity,
    fingerprint,
)
from ops.backup import require_stopped
from storage.chatstate import CHAT_STATE_NAME, ChatStateDamaged, ChatStateFile
from storage.db import (
    KEY_SIZE,
    Database,
    DatabaseError,
    DatabaseKey,
    connect,
    require_nonempty,
)
from storage.errors import DatabaseKeyRejected, StorageError
from storage.files import fsync_dir, replace, write_new
from storage.home import DB_KEY_CREDENTIAL, DB_KEY_ENV, Home, record_bot_key
from storage.keyring import (
    PreviousBotKey,
    dump_previous,
    interrupted_rotation,
    load_bot,
    load_previous_bot_keys,
    pending_key_path,
    previous_bot_keys_path,
    rotation_marker,
)


class RotationRefused(StorageError, RuntimeError):
    """A key rotation cannot safely run as asked."""


# -- database key ----------------------------------------------------------------------------


class Recovery(StrEnum):
    """What `finish_interrupted_rotation` found."""

    NONE = "none"            # no rotation was pending
    ROLLED_BACK = "rolled-back"  # the database was still under the old key; the new one was dropped
    COMPLETED = "completed"  # the database was under the new key; it is now in the key file
    CLEAN = "clean"          # only the marker was left: the key file opens the database




def _read_key(path: Path) -> DatabaseKey:
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (UnicodeDecodeError, ValueError) as err:
        raise DatabaseKeyRejected(f"{path} does not hold a hexadecimal key") from err
    if len(key) != KEY_SIZE:
        raise DatabaseKeyRejected(f"{path} must hold {KEY_SIZE * 2} hex characters")
    return DatabaseKey(key)


def _opens(db_path: Path, key: DatabaseKey) -> bool:
    try:
        conn = connect(db_path, key)
    except StorageError:
        return False
    try:
        return conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    except DatabaseError:
        return False
    finally:
        conn.close()


def check_key_source(home: Home, key_file: Path, environ: Mapping[str, str]) -> None:
    """Refuse when the key in use comes from somewhere this command would not update."""
    if environ.get(DB_KEY_ENV):
        raise RotationRefused(f"the database key comes from {DB_KEY_ENV}: unset it and pass "
                              "--key-file with the file that holds the key, then update where you keep it")
    credentials = environ.get("CREDENTIALS_DIRECTORY")
    if credentials and (Path(credentials) / DB_KEY_CREDENTIAL).is_file():
        raise RotationRefused(f"the database key comes from the systemd credential '{DB_KEY_CREDENTIAL}': "
                              "run this outside the service, with --key-file naming the credential's source file")
    if not key_file.is_file():
        raise RotationRefused(f"no key file at {key_file}: pass --key-file with the file that holds the database key")
    if not home.db_path.is_file():
        raise RotationRefused(f"no database at {home.db_path}")








def _mark_rotation(home: Home, key_file: Path) -> None:
    """Write the marker before anything changes; it belongs to the home's owner even when root rotates."""
    marker = rotation_marker(home)
    if marker.exists():
        return
    write_new(marker, f"{key_file.absolute()}\n".encode())
    if os.geteuid() == 0:  # e.g. --key-file /etc/credstore/...: doctor runs as the service user and must read it
        owner = home.root.stat()
        os.chown(marker, owner.st_uid, owner.st_gid)
    fsync_dir(home.root)


def _unmark_rotation(home: Home) -> None:
    rotation_marker(home).unlink(missing_ok=True)
    fsync_dir(home.root)


def finish_interrupted_rotation(home: Home, key_file: Path) -> Recovery:
    """Settle a rotation that stopped half-way: keep whichever key opens the database."""
    pending = pending_key_path(key_file)
    if not pending.exists():
        return Recovery.NONE
    current, new = _read_key(key_file), _read_key(pending)
    if current == new:  # stopped after the key file was replaced: only the clean-up was left
        commit_new_key(key_file, new)
        return Recovery.COMPLETED
    if _opens(home.db_path, current):
        reseal_chat_state(home, new, current)
        pending.unlink()
        fsync_dir(pending.parent)
        return Recovery.ROLLED_BACK
    if not _opens(home.db_path, new):
        raise DatabaseKeyRejected(f"neither {key_file} nor {pending} opens {home.db_path}: "
                                  "keep both files and restore from a backup if no other key exists")
    reseal_chat_state(home, current, new)
    commit_new_key(key_file, new)
    return Recovery.COMPLETED


def reseal_chat_state(home: Home, old: DatabaseKey, new: DatabaseKey) -> None:
    """Step 4: seal the chat state under `new`, from whichever of `old` and `new` it is under now.

    Idempotent, so a rerun after a crash at any point finishes the job. A file that opens with
    neither key is refused: the rotation stops there, and doctor says what to do.
    """
    path = home.root / CHAT_STATE_NAME
    if not path.exists():
        return
    try:
        ChatStateFile(path, new).read()
        return  # already under the new key
    except ChatStateDamaged:
        pass
    try:
        snapshot = ChatStateFile(path, old).read()
    except ChatStateDamaged as err:
        raise RotationRefused(f"{path} opens with neither the old nor the new database key: run "
                              f"'waystation doctor --home {home.root}' and follow what it says, then run "
                              "this again") from err
    ChatStateFile(path, new).write(snapshot)


def stage_new_key(key_file: Path) -> DatabaseKey:
    """Step 1: make a new key and write it durably beside the current one."""
    key = DatabaseKey(nacl.utils.random(KEY_SIZE))
    pending = pending_key_path(key_file)
    write_new(pending, key.hex().encode("ascii") + b"\n")
    fsync_dir(pending.parent)
    return key


def rekey_database(db_path: Path, old: DatabaseKey, new: DatabaseKey) -> None:
    """Step 2 and 3: re-encrypt every page under `new` in one transaction, then check it opens."""
    conn = connect(db_path, old)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute(f"PRAGMA rekey = \"x'{new.hex()}'\"")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except DatabaseError as err:
        raise StorageError(f"the database could not be re-keyed ({err}); it is still under the old key") from err
    finally:
        conn.close()
    if not _opens(db_path, new):
        raise StorageError("the re-keyed database does not open with the new key: "
                           "run 'waystation rotate-db-key' again to settle which key works")


def commit_new_key(key_file: Path, new: DatabaseKey) -> None:
    """Step 4 and 5: the key file takes the new key atomically, then the pending copy goes."""
    replace(key_file, new.hex().encode("ascii") + b"\n")
    pending = pending_key_path(key_file)
    pending.unlink(missing_ok=True)
    fsync_dir(key_file.parent)


def rotate_db_key(home: Home, key_file: Path, environ: Mapping[str, str] = os.environ) -> Recovery:
    """Re-key the database with a fresh key written to `key_file`.

    If an earlier rotation was interrupted, it is settled instead and no new rotation starts;
    the result says which. The bot must be stopped.
    """
    home.require()
    started = interrupted_rotation(home)
    if started is not None and started.absolute() != key_file.absolute() and rotation_marker(home).exists():
        raise RotationRefused(f"a rotation with the key file {started} was interrupted on this home: "
                              f"run this command again with --key-file {started} to settle it first")
    check_key_source(home, key_file, environ)
    require_stopped(home, "rotating the database key")
    recovered = finish_interrupted_rotation(home, key_file)
    if recovered is not Recovery.NONE:
        _unmark_rotation(home)
        return recovered
    old = _read_key(key_file)
    if rotation_marker(home).exists() and _opens(home.db_path, old):
        # Stopped before the new key was staged, or after the key file took it: either way consistent.
        _unmark_rotation(home)
        return Recovery.CLEAN
    require_nonempty(home.db_path)
    try:  # a damaged file is named as such (DatabaseDamaged), not blamed on the key
        connect(home.db_path, old, verify=True).close()
    except DatabaseKeyRejected as err:
        raise DatabaseKeyRejected(f"the key in {key_file} does not open {home.db_path}: nothing was changed") from err
    try:  # the chat state must follow the key: refused now if it cannot, before anything changes
        ChatStateFile(home.root / CHAT_STATE_NAME, old).read()
    except ChatStateDamaged as err:
        raise RotationRefused(f"{err}; nothing was changed: run 'waystation doctor --home {home.root}' "
                              "and follow what it says") from err
    _mark_rotation(home, key_file)
    new = stage_new_key(key_file)
    try:
        rekey_database(home.db_path, old, new)
    except StorageError:
        if _opens(home.db_path, old):
            pending_key_path(key_file).unlink(missing_ok=True)
            _unmark_rotation(home)
        raise
    reseal_chat_state(home, old, new)
    commit_new_key(key_file, new)
    _unmark_rotation(home)
    return Recovery.NONE


# -- bot identity ----------------------------------------------------------------------------
















@dataclass(frozen=True)
class BotRotation:
    """The retired and the new bot identity, for people to compare and pin."""

    old_fingerprint: str
    new_fingerprint: str
    previous_count: int
    new_public: PublicIdentity


def rotate_bot_key(home: Home, now: int, environ: Mapping[str, str] = os.environ) -> BotRotation:
    """Retire the bot identity (kept as a previous key) and make a new one. The bot must be stopped.

    The old key is recorded first and the identity replaced second, both atomically, so a crash
    between them leaves the old key both current and recorded: harmless, and a rerun goes on.
    Last, the database notes the new key (`record_bot_key`): a backup from before this rotation,
    restored later, then shows as older than the key caseworkers pinned. The database is opened
    first, so that a key that does not open it stops the rotation before anything changes.
    """
    home.require()
    require_stopped(home, "rotating the bot key")
    db = Database.open(home.db_path, home.db_key(environ))
    try:
        old = load_bot(home)
        previous = load_previous_bot_keys(home)
        old_sign = old.signing_key.verify_key
        if all(k.verify_key != old_sign for k in previous):
            previous.append(PreviousBotKey(old_sign, old.box_private, now))
            replace(previous_bot_keys_path(home), dump_previous(previous))
        new = Identity.generate(old.name)
        replace(home.bot_identity_path, dump_identity(new, None))
        record_bot_key(db, old_sign)  # a home made before keys were recorded: its history starts with the old key
        record_bot_key(db, new.signing_key.verify_key)
    finally:
        db.close()
    return BotRotation(
        fingerprint(old_sign, old.box_private.public_key),
        new.public.fingerprint(),
        len(previous),
        new.public,
    )
