"""Typed errors of the crypto package: one root, past-tense leaves."""

from __future__ import annotations


class CryptoError(Exception):
    """Root of every error raised by the crypto package."""


class KeyFileInvalid(CryptoError, ValueError):
    """A key file is not a well-formed Waystation key file."""


class PassphraseRejected(CryptoError, ValueError):
    """The passphrase does not unlock this key file (or the file was altered)."""


class EnvelopeRejected(CryptoError, ValueError):
    """An envelope failed a check; nothing from it may be used."""


class EnvelopeMalformed(EnvelopeRejected):
    """The envelope bytes do not follow the format."""


class UnknownVersion(EnvelopeRejected):
    """The envelope declares a format version this code does not know."""


class SignerUntrusted(EnvelopeRejected):
    """The envelope is signed by a key that is not among the trusted signers."""


class SignatureInvalid(EnvelopeRejected):
    """The envelope signature does not verify: some byte was changed."""


class BindingMismatched(EnvelopeRejected):
    """The envelope belongs to another case, queue or kind than expected."""


class NotARecipient(EnvelopeRejected):
    """The envelope was not encrypted to this key."""


class DecryptionFailed(EnvelopeRejected):
    """The payload did not decrypt or unpad; the envelope is corrupt or forged."""


class PayloadTooLarge(CryptoError, ValueError):
    """The payload exceeds the largest padding bucket."""


class NoRecipients(CryptoError, ValueError):
    """Sealing was asked with no recipient: nobody could ever read it."""


class RosterRejected(CryptoError, ValueError):
    """A roster failed verification; it must not be used."""


class RosterMalformed(RosterRejected):
    """The roster file does not follow the format."""


class RosterSignatureInvalid(RosterRejected):
    """The roster is not signed by a trusted, active admin key."""


class RosterExpired(RosterRejected):
    """The roster as a whole is past its expiry time."""


class RosterRolledBack(RosterRejected):
    """The roster is older than one already seen: it may undo a revocation."""


class RosterChangeRefused(CryptoError, ValueError):
    """A roster edit is not allowed (duplicate name, unknown member, ...)."""


class ReferenceInvalid(CryptoError, ValueError):
    """A case reference is not 16 digits."""


class HandleRejected(CryptoError, ValueError):
    """A reply handle's tag does not verify for this case, or the handle does not open: nothing is sent."""


class GrantRejected(CryptoError, ValueError):
    """A grant failed a check; no content key from it may be used."""


class GrantMalformed(GrantRejected):
    """The grant bytes do not follow the format."""


class GrantSignerUntrusted(GrantRejected):
    """The grant is signed by a key that may not grant this case (not a caseworker of its queue, or revoked)."""


class GrantSignatureInvalid(GrantRejected):
    """The grant signature does not verify: some byte was changed."""


class GrantBindingMismatched(GrantRejected):
    """The grant belongs to another case or queue, another recipient, or does not cover this envelope."""
