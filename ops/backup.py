"""Backups: one encrypted file holding a consistent copy of a server home, and its restore.

What a backup holds (docs/operations.md gives the reasoning):

- the database, copied with SQLCipher's `sqlcipher_export` inside one read transaction: a
  consistent snapshot taken while the bot keeps writing (a WAL reader never blocks the writer),
  still encrypted under the database key;
- config.toml, form.toml, roster.json, trusted_admins;
- secrets/db.key, secrets/reference_pepper, secrets/bot_identity.json, secrets/previous_bot_keys:
  without them the copy cannot be opened, people's references stop matching, and envelopes stop
  verifying.

Never the bot token or the webhook secret: they are re-issued by BotFather or regenerated, and a
token in an old file would let whoever opens it read new intakes. Never the chat state
(chats.state: pending deletions and send intents, chat ids of people): a backup must hold no
chat id, and its entries are worthless after a disaster anyway (a bot can delete a message only
within 48 hours). A restored home starts with no chat state: messages of chats that were active
when the backup was taken can no longer be deleted by the restored server.

The whole file is encrypted to public keys (the roster's active admins, and any extra key
given): the server can write backups but cannot read them, so a seized server opens none of
the backups it made, and the file can be kept anywhere.

File format, version 1 (integers big-endian):

    magic     8 bytes   b"WSBACKUP"
    version   1 byte    1
    count     1 byte    n, 1..32
    slots     n x 80    crypto_box_seal(file key) to each recipient's X25519 key
    header    24 bytes  crypto_secretstream_xchacha20poly1305 header under the file key
    chunks    repeated: 4-byte length, then the secretstream ciphertext of at most 64 KiB;
              the first chunk takes every byte above as associated data, the last one carries
              TAG_FINAL, and nothing may follow it.

The plaintext is a POSIX tar stream: manifest.json first, then exactly the files it lists.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import nacl.bindings as sodium
import nacl.exceptions
import nacl.utils
from nacl.public import PrivateKey, PublicKey, SealedBox

from crypto.encoding import load_object, unb64
from crypto.errors import CryptoError, RosterRejected
from crypto.keys import load_identity
from crypto.roster import Roster, load_roster, verify_roster
from storage.config import load_config
from storage.db import (
    SQLITE_FULL,
    DatabaseError,
    DatabaseKey,
    connect,
    database_failure,
    require_nonempty,
    sqlite_code,
)
from storage.errors import DatabaseKeyRejected, StorageError
from storage.files import fsync_dir, make_private_dir
from storage.home import Home, KeyOrigin, key_rejected
from storage.schema import SCHEMA_VERSION

MAGIC = b"WSBACKUP"
VERSION = 1
MAX_RECIPIENTS = 32
SLOT_SIZE = 32 + 48  # a sealed 32-byte file key
CHUNK = 64 * 1024
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "waystation-backup"
DB_NAME = "waystation.db"
DB_KEY_NAME = "secrets/db.key"
#: Files copied as they are, when present. Never secrets/bot_token, never secrets/webhook_secret,
#: never chats.state (chat ids of people).
COPIED_FILES = (
    "config.toml",
    "form.toml",
    "roster.json",
    "trusted_admins",
    "secrets/reference_pepper",
    "secrets/bot_identity.json",
    "secrets/previous_bot_keys",
)
REQUIRED = ("config.toml", DB_NAME, DB_KEY_NAME, "secrets/reference_pepper", "secrets/bot_identity.json")
MAX_SMALL_FILE = 4 * 2**20

_SS_ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
_SS_HEADER = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
_TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE


class BackupRejected(StorageError, ValueError):
    """A backup file is damaged, truncated, altered, or not readable with this key."""


class RestoreRefused(StorageError, RuntimeError):
    """Restoring would overwrite a home that must not be overwritten (now)."""


class HomeInUse(StorageError, RuntimeError):
    """Another process (the bot) has the database open; the operation needs it stopped."""


# -- is the bot running? ------------------------------------------------------------------

_DMS_BYTE = 128  # SQLite's "dead man switch" lock in the -shm file: every open WAL connection holds it
PROC_LOCKS = Path("/proc/locks")


def database_in_use(db_path: Path) -> bool:
    """Whether some connection (in any process, this one included) has the WAL database open.

    Reads the kernel's lock table instead of probing the -shm file: opening and closing a
    descriptor of a file that this process has open through SQLite would silently drop
    SQLite's POSIX locks on it. Where /proc/locks is missing (not Linux), answers False.
    """
    shm = db_path.with_name(db_path.name + "-shm")
    try:
        info = os.stat(shm)
        table = PROC_LOCKS.read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    ident = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    for line in table.splitlines():
        fields = line.split()
        # "1: POSIX  ADVISORY  READ 123 fe:00:4567 128 128"; lines with "->" are waiters.
        if len(fields) < 8 or "->" in fields or fields[5] != ident:
            continue
        first, last = int(fields[6]), fields[7]
        if first <= _DMS_BYTE and (last == "EOF" or _DMS_BYTE <= int(last)):
            return True
    return False


def require_stopped(home: Home, what: str) -> None:
    """Raise HomeInUse if the home's database is open elsewhere."""
    if database_in_use(home.db_path):
        raise HomeInUse(f"the database is in use (is the bot running?): stop it before {what}, "
                        "e.g. 'systemctl stop waystation' or 'docker compose stop bot'")


# -- the encrypted stream -------------------------------------------------------------------


class _SealingWriter:
    """A write-only file object that encrypts everything written to it into the backup format."""

    def __init__(self, out: BinaryIO, recipients: list[PublicKey]) -> None:
        if not 1 <= len(recipients) <= MAX_RECIPIENTS:
            raise StorageError(f"a backup needs 1 to {MAX_RECIPIENTS} recipient keys")
        file_key = nacl.utils.random(sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES)
        prefix = MAGIC + bytes([VERSION, len(recipients)])
        prefix += b"".join(SealedBox(key).encrypt(file_key) for key in recipients)
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        header = sodium.crypto_secretstream_xchacha20poly1305_init_push(self._state, file_key)
        self._out = out
        self._aad: bytes | None = prefix + header
        self._buffer = bytearray()
        out.write(prefix + header)

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK:
            self._push(bytes(self._buffer[:CHUNK]), _TAG_MESSAGE)
            del self._buffer[:CHUNK]
        return len(data)

    def finish(self) -> None:
        """Seal the rest with the final tag; without it a reader rejects the file as truncated."""
        self._push(bytes(self._buffer), _TAG_FINAL)
        self._buffer.clear()

    def _push(self, chunk: bytes, tag: int) -> None:
        sealed = sodium.crypto_secretstream_xchacha20poly1305_push(self._state, chunk, self._aad, tag)
        self._aad = None
        self._out.write(len(sealed).to_bytes(4, "big") + sealed)


class _OpeningReader:
    """A read-only file object over the decrypted stream; `finish()` proves the file was whole."""

    def __init__(self, source: BinaryIO, box_key: PrivateKey) -> None:
        head = source.read(len(MAGIC) + 2)
        if len(head) != len(MAGIC) + 2 or head[: len(MAGIC)] != MAGIC:
            raise BackupRejected("this is not a Waystation backup file")
        if head[len(MAGIC)] != VERSION:
            raise BackupRejected(f"backup format version {head[len(MAGIC)]} is not known to this Waystation")
        count = head[len(MAGIC) + 1]
        if not 1 <= count <= MAX_RECIPIENTS:
            raise BackupRejected("the backup header is damaged (recipient count)")
        slots = source.read(count * SLOT_SIZE)
        header = source.read(_SS_HEADER)
        if len(slots) != count * SLOT_SIZE or len(header) != _SS_HEADER:
            raise BackupRejected("the backup file is truncated (header)")
        file_key = _open_slot(slots, box_key)
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(self._state, header, file_key)
        self._source = source
        self._aad: bytes | None = head + slots + header
        self._buffer = bytearray()
        self._final = False

    def read(self, size: int = -1) -> bytes:
        while not self._final and (size < 0 or len(self._buffer) < size):
            self._pull()
        take = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        data = bytes(self._buffer[:take])
        del self._buffer[:take]
        return data

    def finish(self) -> None:
        """Read to the final tag and check that nothing follows it."""
        while not self._final:
            self._pull()
        if self._source.read(1):
            raise BackupRejected("the backup file has data after its end: it was altered")

    def _pull(self) -> None:
        length_bytes = self._source.read(4)
        if len(length_bytes) != 4:
            raise BackupRejected("the backup file is truncated: it ends before its final chunk")
        length = int.from_bytes(length_bytes, "big")
        if not _SS_ABYTES <= length <= CHUNK + _SS_ABYTES:
            raise BackupRejected("the backup file is damaged (chunk length)")
        sealed = self._source.read(length)
        if len(sealed) != length:
            raise BackupRejected("the backup file is truncated inside a chunk")
        try:
            chunk, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(self._state, sealed, self._aad)
        except nacl.exceptions.CryptoError as err:
            raise BackupRejected("the backup file was altered or damaged: a chunk does not authenticate") from err
        self._aad = None
        self._buffer += chunk
        self._final = tag == _TAG_FINAL


def _open_slot(slots: bytes, box_key: PrivateKey) -> bytes:
    box = SealedBox(box_key)
    for start in range(0, len(slots), SLOT_SIZE):
        try:
            return box.decrypt(slots[start : start + SLOT_SIZE])
        except nacl.exceptions.CryptoError:
            continue
    raise BackupRejected("this key cannot open the backup: it was not encrypted to it")


# -- making a backup -------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """What the exported database holds."""

    schema_version: int
    cases: int


@dataclass(frozen=True)
class BackupSummary:
    """What `write_backup` wrote."""

    path: Path
    size: int
    snapshot: Snapshot
    recipients: int
    key_origin: KeyOrigin


def roster_admin_keys(home: Home, now: int) -> list[PublicKey]:
    """Encryption keys of the active admins on the verified roster (may be empty).

    Once the roster has expired, its admins of the moment it expired: the nightly backup must
    not stop because a date passed (they are the admins who can renew it).
    """
    try:
        data = home.roster_path.read_bytes()
        admins = home.trusted_admins()
        signed = verify_roster(data, trusted_admins=admins) if admins else None
    except (OSError, CryptoError, StorageError):
        return []
    if signed is None:
        return []
    at = min(now, signed.expires - 1)
    return [m.identity.box_key for m in signed.roster.admins(at)]


def export_database(db_path: Path, key: DatabaseKey, dest: Path) -> Snapshot:
    """Copy the live database to `dest`, under the same key, as one consistent snapshot."""
    require_nonempty(db_path)
    conn = connect(db_path, key, verify=True)  # a damaged database is refused, not backed up
    try:
        conn.execute("ATTACH DATABASE ? AS backup KEY ?", (str(dest), _raw_key_text(key)))
        try:
            # The first read pins a WAL snapshot; everything below sees exactly that state,
            # while the bot goes on committing to the WAL undisturbed.
            conn.execute("BEGIN")
            schema_version = int(conn.execute("PRAGMA main.user_version").fetchone()[0])
            cases = int(conn.execute("SELECT count(*) FROM main.cases").fetchone()[0])
            conn.execute("SELECT sqlcipher_export('backup')").fetchone()
            # sqlcipher_export copies tables, indexes and triggers but not user_version.
            conn.execute(f"PRAGMA backup.user_version = {schema_version}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.execute("DETACH DATABASE backup")
    except DatabaseError as err:
        # A full disk is where the copy goes; any other failure is the live database's.
        where = dest.parent if sqlite_code(err) == SQLITE_FULL else db_path
        raise StorageError(f"could not export the database: {database_failure(err, where)}") from err
    finally:
        conn.close()
    return Snapshot(schema_version, cases)


def _raw_key_text(key: DatabaseKey) -> str:
    return f"x'{key.hex()}'"


def _check_database(path: Path, key: DatabaseKey) -> Snapshot:
    """Open a database copy and check it thoroughly; raises BackupRejected."""
    try:
        conn = connect(path, key)
    except StorageError as err:
        raise BackupRejected("the database in the backup does not open with the key in the backup") from err
    try:
        result = conn.execute("PRAGMA integrity_check").fetchall()
        if result != [("ok",)]:
            raise BackupRejected("the database in the backup fails its integrity check")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise BackupRejected(f"the backup has schema version {version}, newer than this Waystation "
                                 f"understands ({SCHEMA_VERSION}): restore with a newer Waystation")
        cases = int(conn.execute("SELECT count(*) FROM cases").fetchone()[0])
    except DatabaseError as err:
        raise BackupRejected(f"the database in the backup is damaged: {err}") from err
    finally:
        conn.close()
    return Snapshot(version, cases)


def write_backup(home: Home, out: Path, recipients: list[PublicKey], now: int,
                 environ: Mapping[str, str] = os.environ) -> BackupSummary:
    """Write an encrypted backup of `home` to the new file `out`, readable only by `recipients`."""
    home.require()
    if out.exists() or out.is_symlink():
        raise StorageError(f"{out} already exists: choose a new file name (a backup never overwrites)")
    unique = list({bytes(k): k for k in recipients}.values())
    found = home.find_db_key(environ)
    key = found.key
    work = Path(tempfile.mkdtemp(prefix=".waystation-backup-", dir=out.parent))
    partial = out.with_name(f".{out.name}.partial")
    try:
        exported = work / DB_NAME
        try:
            snapshot = export_database(home.db_path, key, exported)
        except DatabaseKeyRejected as err:
            raise key_rejected(found.origin, home.db_path) from err
        _check_database(exported, key)
        files: list[tuple[str, Path | bytes]] = [(DB_NAME, exported), (DB_KEY_NAME, key.hex().encode("ascii") + b"\n")]
        files += [(name, home.root / name) for name in COPIED_FILES if (home.root / name).is_file()]
        manifest = {
            "format": MANIFEST_FORMAT, "version": VERSION, "created": now,
            "schema_version": snapshot.schema_version, "cases": snapshot.cases,
            "files": [name for name, _ in files],
        }
        fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as handle:
            writer = _SealingWriter(handle, unique)
            with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                _add(tar, MANIFEST, json.dumps(manifest, sort_keys=True).encode("utf-8"), now)
                for name, source in files:
                    _add(tar, name, source, now)
            writer.finish()
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, out)
        fsync_dir(out.parent)
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    return BackupSummary(out, out.stat().st_size, snapshot, len(unique), found.origin)


def _add(tar: tarfile.TarFile, name: str, source: Path | bytes, now: int) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = 0o600, now
    if isinstance(source, bytes):
        info.size = len(source)
        tar.addfile(info, io.BytesIO(source))
        return
    with source.open("rb") as handle:
        info.size = os.fstat(handle.fileno()).st_size
        tar.addfile(info, handle)


# -- restoring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreSummary:
    """What `restore_backup` put in place."""

    home: Path
    created: int
    snapshot: Snapshot
    roster_serial: int | None
    roster_expired: bool
    kept_newer_roster: bool
    previous_home: Path | None
    kept_newer_bot_key: bool = False


def read_backup(archive: Path, box_key: PrivateKey, dest: Path) -> dict[str, object]:
    """Decrypt and unpack a backup into the empty directory `dest`; returns its manifest.

    Only the file names a backup may hold are accepted, only as regular files, each once.
    Nothing in `dest` may be trusted unless this returns: the final check comes last.
    """
    allowed = {MANIFEST, DB_NAME, DB_KEY_NAME, *COPIED_FILES}
    seen: list[str] = []
    manifest: dict[str, object] | None = None
    try:
        with archive.open("rb") as source:
            reader = _OpeningReader(source, box_key)
            with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    if member.name not in allowed or member.name in seen or not member.isreg():
                        raise BackupRejected("the backup holds an unexpected entry: it was not made by Waystation")
                    if (manifest is None) != (member.name == MANIFEST):
                        raise BackupRejected("the backup does not start with its manifest")
                    if member.name != DB_NAME and member.size > MAX_SMALL_FILE:
                        raise BackupRejected(f"the backup's {member.name} is implausibly large")
                    handle = tar.extractfile(member)
                    if handle is None:
                        raise BackupRejected("the backup holds an unreadable entry")
                    if member.name == MANIFEST:
                        manifest = load_object(handle.read(), "backup manifest", CryptoError)
                    else:
                        _write_member(dest / member.name, handle)
                    seen.append(member.name)
            reader.finish()
    except tarfile.TarError as err:
        raise BackupRejected("the backup's contents are damaged") from err
    except CryptoError as err:
        raise BackupRejected(f"the backup's manifest is damaged: {err}") from err
    except FileNotFoundError as err:
        raise BackupRejected(f"no backup file at {archive}") from err
    if manifest is None or manifest.get("format") != MANIFEST_FORMAT or manifest.get("version") != VERSION:
        raise BackupRejected("the backup has no valid manifest")
    listed = manifest.get("files")
    if not isinstance(listed, list) or sorted(map(str, listed)) != sorted(n for n in seen if n != MANIFEST):
        raise BackupRejected("the backup's files do not match its manifest")
    missing = [name for name in REQUIRED if name not in seen]
    if missing:
        raise BackupRejected(f"the backup lacks {missing[0]}")
    return manifest


def _write_member(path: Path, handle: BinaryIO) -> None:
    if not path.parent.exists():
        make_private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(handle, out, CHUNK)
        out.flush()
        os.fsync(out.fileno())


def roster_verified_when_issued(home: Home) -> Roster:
    """The home's roster, its signature checked against the home's pinned admins as of its issue time.

    For restore: an old roster must still prove who signed it, even if it has expired since.
    """
    data = home.roster_path.read_bytes()
    wrapper = load_object(data, "roster file", RosterRejected)
    body = load_object(unb64(wrapper.get("body"), None, "roster body", RosterRejected), "roster body", RosterRejected)
    issued = body.get("issued")
    if not isinstance(issued, int) or isinstance(issued, bool):
        raise RosterRejected("roster body has no issue time")
    return load_roster(data, trusted_admins=home.trusted_admins(), now=issued)


def _verify_staged(staged: Home, now: int) -> tuple[Snapshot, Roster | None]:
    try:
        load_config(staged.config_path)
        key = staged.db_key(environ={})
        staged.pepper()
        load_identity(staged.bot_identity_path.read_bytes(), None)
        staged.trusted_admins()
    except (StorageError, CryptoError, OSError) as err:
        raise BackupRejected(f"the backup's home does not check out: {err}") from err
    snapshot = _check_database(staged.db_path, key)
    if not staged.roster_path.exists():
        return snapshot, None
    try:
        roster = roster_verified_when_issued(staged)
    except (CryptoError, StorageError) as err:
        raise BackupRejected(f"the backup's roster does not verify: {err}") from err
    return snapshot, roster


def _keep_newer_roster(target: Home, staged: Home, staged_roster: Roster | None) -> bool:
    """If the home being replaced has a valid, newer roster, keep it: an older one could undo a revocation."""
    try:
        current = roster_verified_when_issued(target)
    except (OSError, CryptoError, StorageError):
        return False
    if staged_roster is not None and current.serial <= staged_roster.serial:
        return False
    for name in ("roster.json", "trusted_admins"):
        shutil.copyfile(target.root / name, staged.root / name)
    return True


def _keep_newer_bot_identity(target: Home, staged: Home) -> bool:
    """If the home being replaced has a valid bot identity that succeeded the backup's, keep it (and its retired keys).

    A backup from before `rotate-bot-key` holds the old identity: restoring it would bring back a
    key caseworkers no longer trust (their clients refuse it) and sign new cases with it. The
    replaced home's identity is newer when its previous_bot_keys lists the backup's key; it is
    kept only if it and that file load. A home merely made by `init` has an unrelated identity:
    the backup's is used.
    """
    from storage.keyring import load_previous_bot_keys

    try:
        current = load_identity(target.bot_identity_path.read_bytes(), None)
        retired = load_previous_bot_keys(target)
        restored = load_identity(staged.bot_identity_path.read_bytes(), None)
    except (OSError, CryptoError, StorageError):
        return False
    restored_key = restored.signing_key.verify_key
    if current.signing_key.verify_key == restored_key or all(k.verify_key != restored_key for k in retired):
        return False
    for name in ("secrets/bot_identity.json", "secrets/previous_bot_keys"):
        (staged.root / name).unlink(missing_ok=True)
        shutil.copyfile(target.root / name, staged.root / name)
        os.chmod(staged.root / name, 0o600)
    return True


def restore_backup(
    archive: Path, target: Path, box_key: PrivateKey, now: int, *, force: bool = False
) -> RestoreSummary:
    """Verify a backup completely, then put it in place as the home `target`.

    An existing, non-empty `target` is refused unless `force`; with `force` it is moved aside
    (never deleted) to TARGET.before-restore-TIME. A home whose database is open is always refused.
    """
    existing = target.exists() and (not target.is_dir() or any(target.iterdir()))
    if existing and not force:
        raise RestoreRefused(f"{target} already exists and is not empty: pass --force to replace it "
                             "(it is moved aside, not deleted)")
    if existing:
        if not target.is_dir():
            raise RestoreRefused(f"{target} is not a directory")
        require_stopped(Home(target), "restoring over this home")
    if not target.parent.is_dir():
        raise RestoreRefused(f"{target.parent} does not exist")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.restore-", dir=target.parent))
    try:
        os.chmod(staging, 0o700)
        manifest = read_backup(archive, box_key, staging)
        staged = Home(staging)
        snapshot, roster = _verify_staged(staged, now)
        kept = existing and _keep_newer_roster(Home(target), staged, roster)
        if kept:
            roster = roster_verified_when_issued(staged)
        kept_bot = existing and _keep_newer_bot_identity(Home(target), staged)
        previous = _swap_in(staging, target, now, existing)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    created = manifest.get("created")
    return RestoreSummary(
        home=target,
        created=created if isinstance(created, int) else 0,
        snapshot=snapshot,
        roster_serial=None if roster is None else roster.serial,
        roster_expired=roster is not None and roster.expires <= now,
        kept_newer_roster=bool(kept),
        previous_home=previous,
        kept_newer_bot_key=bool(kept_bot),
    )


def _swap_in(staging: Path, target: Path, now: int, existing: bool) -> Path | None:
    previous: Path | None = None
    if existing:
        stamp = _stamp(now)
        previous = target.with_name(f"{target.name}.before-restore-{stamp}")
        os.rename(target, previous)
    elif target.exists():
        target.rmdir()  # an empty directory, e.g. a mount point made ready by the admin
    os.rename(staging, target)
    fsync_dir(target.parent)
    return previous


def _stamp(now: int) -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
