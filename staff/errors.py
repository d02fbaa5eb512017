"""Typed errors of the staff client."""

from __future__ import annotations


class StaffError(Exception):
    """Root of every error raised by the staff client."""


class NotOnRoster(StaffError, PermissionError):
    """The key is not an active caseworker on the verified roster (for that queue)."""
