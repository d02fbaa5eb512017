"""Envelope v1: one payload encrypted to many recipients and signed by its sender.

The byte layout is specified in docs/envelope.md; this module is its reference
implementation. Opening checks, in order: magic, version, trusted signer,
signature, structure, binding (kind, case id, queue), recipient slot, AEAD,
padding. Any failure raises a subclass of EnvelopeRejected.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import cast

import nacl.bindings
import nacl.exceptions
import nacl.utils
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey, VerifyKey

from crypto.errors import (
    BindingMismatched,
    DecryptionFailed,
    EnvelopeMalformed,
    NoRecipients,
    NotARecipient,
    SignatureInvalid,
    SignerUntrusted,
    UnknownVersion,
)
from crypto.keys import KEY_ID_SIZE, KeyId, PublicIdentity, key_id
from crypto.padding import BUCKETS, pad, unpad

MAGIC = b"WSEV"
VERSION = 1
SIGNER_OFFSET = 6
SIGNER_SIZE = 32
SIGNATURE_SIZE = 64
CONTENT_KEY_SIZE = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_KEYBYTES
NONCE_SIZE = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
SEALED_KEY_SIZE = 32 + CONTENT_KEY_SIZE + 16  # ephemeral key, content key, MAC
MAX_RECIPIENTS = 64
MAX_LABEL = 64
TAG_SIZE = 16

_CASE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_QUEUE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Kind(IntEnum):
    """What an envelope carries; bound into the signed header."""

    REQUEST = 1
    NOTE = 2
    FOLLOW_UP = 3
    REPLY = 4
    DELIVERY = 5


def valid_queue(queue: str) -> bool:
    """Whether a queue name fits the envelope's label rules (a-z, 0-9, '_', '-', 1..64)."""
    return bool(_QUEUE.fullmatch(queue))


def valid_case_id(case_id: str) -> bool:
    """Whether a case id fits the envelope's label rules (a-z, 0-9, '-', 1..64)."""
    return bool(_CASE_ID.fullmatch(case_id))


@dataclass(frozen=True)
class Header:
    """The signed, cleartext part of an envelope."""

    kind: Kind
    signer: VerifyKey
    case_id: str
    queue: str
    recipients: tuple[KeyId, ...]
    size: int


@dataclass(frozen=True)
class Opened:
    """A verified, decrypted envelope."""

    header: Header
    payload: bytes


def seal(
    payload: bytes,
    *,
    kind: Kind,
    case_id: str,
    queue: str,
    recipients: Sequence[PublicKey | PublicIdentity],
    signer: SigningKey,
) -> bytes:
    """Encrypt `payload` to every recipient and sign the result.

    A fresh content key and nonce are drawn for each call. Duplicate recipient
    keys are sealed once. Raises NoRecipients, PayloadTooLarge or ValueError
    for labels outside the allowed alphabet.
    """
    body = seal_body(payload, kind=kind, case_id=case_id, queue=queue, recipients=recipients,
                     signer_key=signer.verify_key)
    return body + signer.sign(body).signature


def seal_body(
    payload: bytes,
    *,
    kind: Kind,
    case_id: str,
    queue: str,
    recipients: Sequence[PublicKey | PublicIdentity],
    signer_key: VerifyKey,
) -> bytes:
    """An envelope without its signature, naming `signer_key` as its signer (what the sealed form's page builds).

    The header names the signer before the AEAD binds it, so whoever holds only the public key
    can encrypt and the signer adds the signature afterwards (`countersign`). Raises as `seal`.
    """
    if not valid_case_id(case_id):
        raise ValueError("case id must be 1..64 of a-z, 0-9, '-'")
    if not valid_queue(queue):
        raise ValueError("queue must be 1..64 of a-z, 0-9, '_', '-'")
    # A PublicIdentity carries its key id, computed once; a bare key gets it computed here.
    unique: dict[bytes, tuple[KeyId, PublicKey]] = {}
    for r in recipients:
        if isinstance(r, PublicIdentity):
            unique[bytes(r.box_key)] = (r.key_id, r.box_key)
        else:
            unique[bytes(r)] = (key_id(r), r)
    if not unique:
        raise NoRecipients("an envelope needs at least one recipient")
    if len(unique) > MAX_RECIPIENTS:
        raise ValueError(f"at most {MAX_RECIPIENTS} recipients")
    content_key = nacl.utils.random(CONTENT_KEY_SIZE)
    header = bytearray(MAGIC)
    header += bytes([VERSION, int(kind)])
    header += bytes(signer_key)
    for label in (case_id, queue):
        raw = label.encode("ascii")
        header += bytes([len(raw)]) + raw
    header += bytes([len(unique)])
    for kid, key in unique.values():
        header += kid + SealedBox(key).encrypt(content_key)
    nonce = nacl.utils.random(NONCE_SIZE)
    ciphertext = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        pad(payload), bytes(header), nonce, content_key
    )
    return bytes(header) + nonce + len(ciphertext).to_bytes(4, "big") + ciphertext


def countersign(
    body: bytes,
    *,
    signer: SigningKey,
    case_id: str,
    queue: str,
    kinds: Collection[Kind],
    recipients: Collection[KeyId],
    max_size: int = BUCKETS[-1],
) -> bytes:
    """Sign an envelope body someone else sealed (the sealed form's page), after checking its shape.

    The signer cannot read the payload; what it vouches for is the header: the body MUST name
    this signer, one of `kinds`, exactly this case id and queue, exactly the key ids in
    `recipients` (the queue's active caseworkers, nobody added or left out), and a ciphertext of
    a padding bucket no larger than `max_size` plus the tag, with nothing after it. Raises
    EnvelopeMalformed, UnknownVersion, SignerUntrusted or BindingMismatched; never signs a
    body that fails. (Whether each sealed key really opens only its recipient can tell.)
    """
    size = len(body)
    if size < SIGNER_OFFSET + SIGNER_SIZE:
        raise EnvelopeMalformed("envelope is too short")
    if body[:4] != MAGIC:
        raise EnvelopeMalformed("not a Waystation envelope (magic)")
    if body[4] != VERSION:
        raise UnknownVersion(f"envelope version {body[4]} is not supported")
    if body[SIGNER_OFFSET : SIGNER_OFFSET + SIGNER_SIZE] != bytes(signer.verify_key):
        raise SignerUntrusted("the body names another signer")
    parsed = _parse_body(body, size, signer.verify_key)
    _check_binding(parsed.header, case_id, queue, kinds)
    if set(parsed.header.recipients) != set(recipients):
        raise BindingMismatched("the body is not sealed to exactly the queue's caseworkers")
    length = size - parsed.header_end - NONCE_SIZE - 4
    if length - TAG_SIZE not in BUCKETS or length - TAG_SIZE > max_size:
        raise EnvelopeMalformed("the ciphertext is not a padding bucket within the size limit")
    return body + signer.sign(body).signature


_SLOT_SIZE = KEY_ID_SIZE + SEALED_KEY_SIZE
#: Kind by its byte, for a dictionary lookup instead of IntEnum's slower call.
_KINDS: dict[int, Kind] = {kind.value: kind for kind in Kind}


def _truncated() -> EnvelopeMalformed:
    return EnvelopeMalformed("envelope is truncated")


def _label(data: bytes, pos: int, end: int, pattern: re.Pattern[str], what: str) -> tuple[str, int]:
    """The length-prefixed label at `pos` of `data[:end]`, checked against `pattern`, and the next offset."""
    if pos >= end:
        raise _truncated()
    stop = pos + 1 + data[pos]
    if stop > end:
        raise _truncated()
    try:
        text = data[pos + 1 : stop].decode("ascii")
    except UnicodeDecodeError as err:
        raise EnvelopeMalformed(f"{what} is not ASCII") from err
    if not pattern.fullmatch(text):
        raise EnvelopeMalformed(f"{what} has characters outside its alphabet")
    return text, stop


class _Parsed:
    """A verified envelope's header, and where in the envelope its slots, nonce and ciphertext are."""

    __slots__ = ("header", "envelope", "slots_start", "header_end", "end")

    def __init__(self, header: Header, envelope: bytes, slots_start: int, header_end: int, end: int) -> None:
        self.header = header
        self.envelope = envelope
        self.slots_start = slots_start
        self.header_end = header_end
        self.end = end

    def sealed_key(self, kid: bytes) -> bytes | None:
        """The sealed content key in the slot of key id `kid`, or None if there is none."""
        try:
            index = self.header.recipients.index(cast(KeyId, kid))
        except ValueError:
            return None
        at = self.slots_start + index * _SLOT_SIZE + KEY_ID_SIZE
        return self.envelope[at : at + SEALED_KEY_SIZE]


def _verify_and_parse(envelope: bytes, trusted_signers: Collection[VerifyKey]) -> _Parsed:
    # The open path's cost beyond libsodium's is mostly this function: it indexes the envelope in
    # place (no reader object, no copy of the body); decryption slices out only what it needs.
    size = len(envelope)
    if size < SIGNER_OFFSET + SIGNER_SIZE + SIGNATURE_SIZE:
        raise EnvelopeMalformed("envelope is too short")
    if envelope[:4] != MAGIC:
        raise EnvelopeMalformed("not a Waystation envelope (magic)")
    if envelope[4] != VERSION:
        raise UnknownVersion(f"envelope version {envelope[4]} is not supported")
    signer_bytes = envelope[SIGNER_OFFSET : SIGNER_OFFSET + SIGNER_SIZE]
    for signer in trusted_signers:
        if bytes(signer) == signer_bytes:
            break
    else:
        raise SignerUntrusted("envelope is signed by an unknown key")
    end = size - SIGNATURE_SIZE  # the body is envelope[:end], the signature the rest
    try:
        # Ed25519 over the body, before anything past the signer is interpreted. libsodium's
        # combined form is signature || message: one copy, as VerifyKey.verify makes too.
        nacl.bindings.crypto_sign_open(envelope[end:] + envelope[:end], signer_bytes)
    except nacl.exceptions.BadSignatureError as err:
        raise SignatureInvalid("envelope signature does not verify") from err
    return _parse_body(envelope, end, signer)


def _parse_body(envelope: bytes, end: int, signer: VerifyKey) -> _Parsed:
    """Steps 5 on of the format: the structure of `envelope[:end]`, whose signer was checked already."""
    size = len(envelope)
    kind = _KINDS.get(envelope[5])
    if kind is None:
        raise EnvelopeMalformed("envelope kind is unknown")
    case_id, pos = _label(envelope, SIGNER_OFFSET + SIGNER_SIZE, end, _CASE_ID, "case id")
    queue, pos = _label(envelope, pos, end, _QUEUE, "queue")
    if pos >= end:
        raise _truncated()
    count = envelope[pos]
    pos += 1
    if not 1 <= count <= MAX_RECIPIENTS:
        raise EnvelopeMalformed("recipient count out of range")
    slots_start = pos
    header_end = pos + count * _SLOT_SIZE
    if header_end + NONCE_SIZE + 4 > end:
        raise _truncated()
    # KeyId is a NewType over bytes: the slices are KeyIds at run time, without a call each.
    slot_starts = range(pos, header_end, _SLOT_SIZE)
    key_ids = cast(tuple[KeyId, ...], tuple([envelope[at : at + KEY_ID_SIZE] for at in slot_starts]))
    if len(set(key_ids)) != count:
        raise EnvelopeMalformed("duplicate recipient slot")
    nonce_end = header_end + NONCE_SIZE
    length = int.from_bytes(envelope[nonce_end : nonce_end + 4], "big")
    if nonce_end + 4 + length > end:
        raise _truncated()
    if nonce_end + 4 + length != end:
        raise EnvelopeMalformed("trailing bytes after ciphertext")
    header = Header(kind, signer, case_id, queue, key_ids, size)
    return _Parsed(header, envelope, slots_start, header_end, end)


def verify(
    envelope: bytes,
    *,
    trusted_signers: Collection[VerifyKey],
    case_id: str,
    queue: str,
    kinds: Collection[Kind],
) -> Header:
    """Check signature and binding without decrypting; returns the header."""
    parsed = _verify_and_parse(envelope, trusted_signers)
    _check_binding(parsed.header, case_id, queue, kinds)
    return parsed.header


def _check_binding(header: Header, case_id: str, queue: str, kinds: Collection[Kind]) -> None:
    if header.kind not in kinds:
        raise BindingMismatched(f"envelope is a {header.kind.name.lower()}, not what was expected")
    if header.case_id != case_id:
        raise BindingMismatched("envelope belongs to another case")
    if header.queue != queue:
        raise BindingMismatched("envelope belongs to another queue")


def open_envelope(
    envelope: bytes,
    *,
    recipient: PrivateKey,
    trusted_signers: Collection[VerifyKey],
    case_id: str,
    queue: str,
    kinds: Collection[Kind],
    recipient_id: KeyId | None = None,
) -> Opened:
    """Verify, then decrypt an envelope for `recipient` (`recipient_id`: its key id, if already known).

    The signature is checked before anything else is interpreted. Raises a
    subclass of EnvelopeRejected on any failure; never returns partial data.
    """
    parsed = _verify_and_parse(envelope, trusted_signers)
    _check_binding(parsed.header, case_id, queue, kinds)
    return _decrypt(parsed, _open_slot(parsed, recipient, recipient_id))


def recover_content_key(
    envelope: bytes,
    *,
    recipient: PrivateKey,
    trusted_signers: Collection[VerifyKey],
    case_id: str,
    queue: str,
    kinds: Collection[Kind],
    recipient_id: KeyId | None = None,
) -> bytes:
    """The content key of an envelope sealed to `recipient`, after every check `open_envelope` makes.

    For re-sealing it to another member in a grant (crypto/grant.py): the payload is
    decrypted too, so a content key is only ever handed on when it really opens the envelope.
    """
    parsed = _verify_and_parse(envelope, trusted_signers)
    _check_binding(parsed.header, case_id, queue, kinds)
    content_key = _open_slot(parsed, recipient, recipient_id)
    _decrypt(parsed, content_key)
    return content_key


def open_with_content_key(
    envelope: bytes,
    content_key: bytes,
    *,
    trusted_signers: Collection[VerifyKey],
    case_id: str,
    queue: str,
    kinds: Collection[Kind],
) -> Opened:
    """Verify, then decrypt an envelope with a content key obtained otherwise (a verified grant).

    Signature, structure and binding are checked exactly as by `open_envelope`; the AEAD binds
    the key to this envelope's header, so a wrong key fails with DecryptionFailed.
    """
    parsed = _verify_and_parse(envelope, trusted_signers)
    _check_binding(parsed.header, case_id, queue, kinds)
    if len(content_key) != CONTENT_KEY_SIZE:
        raise DecryptionFailed("content key has the wrong size")
    return _decrypt(parsed, content_key)


def _open_slot(parsed: _Parsed, recipient: PrivateKey, recipient_id: KeyId | None) -> bytes:
    sealed_key = parsed.sealed_key(recipient_id or key_id(recipient.public_key))
    if sealed_key is None:
        raise NotARecipient("this envelope was not encrypted to this key")
    try:
        # The binding takes the key bytes as they are (SealedBox(recipient) would copy them out
        # of the PrivateKey through an encoder first).
        content_key = nacl.bindings.crypto_box_seal_open(sealed_key, bytes(recipient.public_key), bytes(recipient))
    except nacl.exceptions.CryptoError as err:
        raise DecryptionFailed("envelope does not decrypt with this key") from err
    if len(content_key) != CONTENT_KEY_SIZE:
        raise DecryptionFailed("content key has the wrong size")
    return content_key


def _decrypt(parsed: _Parsed, content_key: bytes) -> Opened:
    try:
        envelope, header_end, nonce_end = parsed.envelope, parsed.header_end, parsed.header_end + NONCE_SIZE
        padded = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            envelope[nonce_end + 4 : parsed.end], envelope[:header_end], envelope[header_end:nonce_end], content_key
        )
    except nacl.exceptions.CryptoError as err:
        raise DecryptionFailed("envelope does not decrypt with this key") from err
    return Opened(parsed.header, unpad(padded))


def signer_of(envelope: bytes) -> bytes:
    """The raw signer key bytes claimed by an envelope (unverified; for choosing a trust set)."""
    if len(envelope) < SIGNER_OFFSET + SIGNER_SIZE:
        raise EnvelopeMalformed("envelope is too short")
    return envelope[SIGNER_OFFSET : SIGNER_OFFSET + SIGNER_SIZE]
