"""Typed errors of the storage package."""

from __future__ import annotations


class StorageError(Exception):
    """Root of every error raised by the storage package."""


class HomeInvalid(StorageError, ValueError):
    """The server home is missing, incomplete, or would be overwritten."""


class ConfigInvalid(StorageError, ValueError):
    """config.toml cannot be read or holds a bad value."""


class DatabaseKeyMissing(StorageError, FileNotFoundError):
    """No database key was found where it is looked for."""


class DatabaseKeyRejected(StorageError, PermissionError):
    """The database key does not open the database (or the file is not a database)."""


class DatabaseMissing(StorageError, FileNotFoundError):
    """The database file does not exist."""


class DatabaseWriteFailed(StorageError, OSError):
    """The database could not be written (disk full, I/O error, locked): nothing of that write was kept."""


class SchemaTooNew(StorageError, RuntimeError):
    """The database was written by a newer Waystation; this code refuses to touch it."""


class CaseNotFound(StorageError, KeyError):
    """No case (or event) with that id; messages never say more than that."""

    def __str__(self) -> str:
        return "no such case"


class ClaimConflict(StorageError, RuntimeError):
    """The case was already claimed or closed by someone else."""


class TransitionRefused(StorageError, ValueError):
    """A status change that makes no sense from the case's current status."""


class RosterUnavailable(StorageError, RuntimeError):
    """The roster file is missing or fails verification."""


class IntakeRefused(StorageError, RuntimeError):
    """A request could not be accepted (no caseworker for the queue, bad request...)."""
