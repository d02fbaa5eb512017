"""Typed errors of the staff client and the staff API: one root, past-tense leaves.

Messages are written for a person at a terminal: one sentence, what happened
and what to do. They never carry what a person or a caseworker wrote.
"""

from __future__ import annotations


class StaffError(Exception):
    """Root of every error raised by the staff client."""


class NotOnRoster(StaffError, PermissionError):
    """The key is not an active caseworker on the verified roster (for that queue)."""


class ServerUnreachable(StaffError, ConnectionError):
    """The staff API could not be reached (network, TLS, wrong address)."""


class SignatureRefused(StaffError, PermissionError):
    """The server did not accept our request signature (401)."""


class NotAllowed(StaffError, PermissionError):
    """The server knows us, but our role or queues do not allow this (403)."""


class CaseUnavailable(StaffError, LookupError):
    """No such case in our queues (404); deliberately says no more."""


class ChangeRefused(StaffError, RuntimeError):
    """The case is not in a state that allows this change (409), e.g. already claimed."""


class InputRejected(StaffError, ValueError):
    """What we were asked to send is not acceptable (empty text, too long, refused by the server)."""


class ServerFailed(StaffError, RuntimeError):
    """The server answered with an error of its own (5xx) or is not ready (503)."""


class ServerAnswerInvalid(StaffError, ValueError):
    """The server's answer is not what the contract says, or fails verification."""


class PinMismatched(StaffError, PermissionError):
    """A key the server presents differs from the one pinned for it: refused until a person checks."""


class PinsInvalid(StaffError, ValueError):
    """The local pins file cannot be read or written."""


class ReplyImpossible(StaffError, ValueError):
    """The case carries no reply handle (it did not come through the bot), so nobody can be answered."""


class SignatureRejected(StaffError, ValueError):
    """An HTTP message signature failed verification (server side); `code` says which check."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class GrantImpossible(StaffError, ValueError):
    """A grant cannot be made: the recipient is not an active caseworker of a queue the granter shares."""


class AssignmentRefused(StaffError, ValueError):
    """A case cannot be assigned to that person: not an active caseworker of its queue, or the case is closed."""


class ExportRefused(StaffError, ValueError):
    """A handover cannot be made: a case I cannot read, or a recipient who is not an active caseworker of its queue."""


class HandoverRefused(StaffError, ValueError):
    """A handover file did not pass a check (not for me, changed, signer not trusted, another queue): not opened."""


class ServerHomeFailed(StaffError, RuntimeError):
    """Direct mode: the server home refused or failed (its storage error, in the same words)."""
