"""Typed errors of the storage package."""

from __future__ import annotations


class StorageError(Exception):
    """Root of every error raised by the storage package."""


class HomeInvalid(StorageError, ValueError):
    """The server home is missing, incomplete, or would be overwritten."""


class SecretsExposed(HomeInvalid, PermissionError):
    """A secret, or secrets/ itself, can be read by other users than the home's owner."""


class ConfigInvalid(StorageError, ValueError):
    """config.toml cannot be read or holds a bad value."""


class DatabaseKeyMissing(StorageError, FileNotFoundError):
    """No database key was found where it is looked for."""


class DatabaseKeyRejected(StorageError, PermissionError):
    """The database key does not open the database (or the file is not a database)."""


class DatabaseMissing(StorageError, FileNotFoundError):
    """The database file does not exist."""


class DatabaseDamaged(StorageError, RuntimeError):
    """The database file is empty, truncated or corrupt; it was not written to."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}; it was not changed: {fix}")
        self.problem = problem
        self.fix = fix


class DatabaseWriteFailed(StorageError, OSError):
    """The database could not be written or read: disk full, read-only or failing; nothing was saved."""


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
