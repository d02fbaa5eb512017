"""Grant v1: a case's content keys re-sealed by one member to another, signed by the granter.

A caseworker who joins a queue (or replaces a key) cannot open envelopes sealed before
their key was on the roster. A member who can open them takes each envelope's content
key and seals it again to the newcomer's X25519 key (`crypto_box_seal`), one stanza per
envelope, identified by a digest of that envelope's exact bytes; the whole is bound to
the case id, queue, recipient and granter, dated coarsely, and signed with the granter's
Ed25519 key. The server stores grants but can neither open nor forge them. The byte
layout is in docs/envelope.md ("Grants"); a reader MUST make the checks of `open_grant`
in order and use nothing from a grant that fails one. Whether the signer may grant
(a caseworker of the queue, not revoked) is the caller's decision, given as the trusted
signers, as for envelopes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import nacl.exceptions
import nacl.hash
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey, VerifyKey

from crypto.envelope import (
    CONTENT_KEY_SIZE,
    MAX_RECIPIENTS,
    SEALED_KEY_SIZE,
    SIGNATURE_SIZE,
    SIGNER_SIZE,
    valid_case_id,
    valid_queue,
)
from crypto.errors import (
    GrantBindingMismatched,
    GrantMalformed,
    GrantRejected,
    GrantSignatureInvalid,
    GrantSignerUntrusted,
)
from crypto.keys import KEY_ID_SIZE, KeyId, key_id

MAGIC = b"WSGR"
VERSION = 1
DIGEST_SIZE = 32
TIME_SIZE = 8
#: Grants are dated to the hour (rounded down): when a member acted, not when a person wrote.
TIME_GRANULARITY = 3600
MAX_STANZAS = MAX_RECIPIENTS
SIGNER_OFFSET = 5
_FIXED = len(MAGIC) + 1 + SIGNER_SIZE + 2 * KEY_ID_SIZE + TIME_SIZE
STANZA_SIZE = DIGEST_SIZE + SEALED_KEY_SIZE
MIN_SIZE = _FIXED + 2 + 2 + 1 + STANZA_SIZE + SIGNATURE_SIZE


def envelope_digest(envelope: bytes) -> bytes:
    """BLAKE2b-256 of an envelope's exact bytes, personalised `ws-grant-env`: what a grant stanza names."""
    return nacl.hash.blake2b(envelope, digest_size=DIGEST_SIZE, person=b"ws-grant-env", encoder=RawEncoder)


def coarse_hour(now: int) -> int:
    """A time rounded down to the hour, as grants carry it."""
    return now - now % TIME_GRANULARITY


@dataclass(frozen=True)
class GrantHeader:
    """The signed, cleartext part of a grant (readable by anyone, the server included)."""

    signer: VerifyKey
    granter: KeyId
    recipient: KeyId
    at: int
    case_id: str
    queue: str
    digests: tuple[bytes, ...]


def make_grant(
    content_keys: Mapping[bytes, bytes],
    *,
    case_id: str,
    queue: str,
    recipient: PublicKey,
    granter: PublicKey,
    signer: SigningKey,
    at: int,
) -> bytes:
    """Seal each content key (by the digest of its envelope) to `recipient` and sign the grant.

    `content_keys` maps `envelope_digest(envelope)` to that envelope's content key, as
    `crypto.envelope.recover_content_key` returned it. `granter` is the signer's own X25519 key
    (its key id is bound in). `at` is rounded down to the hour. Raises ValueError for labels
    outside their alphabets, no or too many keys, or a key or digest of the wrong size.
    """
    if not valid_case_id(case_id):
        raise ValueError("case id must be 1..64 of a-z, 0-9, '-'")
    if not valid_queue(queue):
        raise ValueError("queue must be 1..64 of a-z, 0-9, '_', '-'")
    if not 1 <= len(content_keys) <= MAX_STANZAS:
        raise ValueError(f"a grant holds 1..{MAX_STANZAS} content keys")
    if at < 0:
        raise ValueError("a grant's time cannot be negative")
    body = bytearray(MAGIC)
    body += bytes([VERSION])
    body += bytes(signer.verify_key) + key_id(granter) + key_id(recipient)
    body += coarse_hour(at).to_bytes(TIME_SIZE, "big")
    for label in (case_id, queue):
        raw = label.encode("ascii")
        body += bytes([len(raw)]) + raw
    body += bytes([len(content_keys)])
    box = SealedBox(recipient)
    for digest, content_key in sorted(content_keys.items()):
        if len(digest) != DIGEST_SIZE or len(content_key) != CONTENT_KEY_SIZE:
            raise ValueError("each stanza needs a 32-byte digest and a 32-byte content key")
        body += digest + box.encrypt(content_key)
    return bytes(body) + signer.sign(bytes(body)).signature


def _label(data: bytes, pos: int, what: str) -> tuple[str, int]:
    if pos >= len(data):
        raise GrantMalformed("grant is truncated")
    length = data[pos]
    raw = data[pos + 1 : pos + 1 + length]
    if len(raw) != length:
        raise GrantMalformed("grant is truncated")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as err:
        raise GrantMalformed(f"{what} is not ASCII") from err
    check = valid_case_id if what == "case id" else valid_queue
    if not check(text):
        raise GrantMalformed(f"{what} has characters outside its alphabet")
    return text, pos + 1 + length


def _parse(grant: bytes, trusted_signers: Collection[VerifyKey]) -> tuple[GrantHeader, dict[bytes, bytes]]:
    if len(grant) < MIN_SIZE:
        raise GrantMalformed("grant is too short")
    if grant[:4] != MAGIC:
        raise GrantMalformed("not a Waystation grant (magic)")
    if grant[4] != VERSION:
        raise GrantMalformed(f"grant version {grant[4]} is not supported")
    signer_bytes = grant[SIGNER_OFFSET : SIGNER_OFFSET + SIGNER_SIZE]
    signer = next((k for k in trusted_signers if bytes(k) == signer_bytes), None)
    if signer is None:
        raise GrantSignerUntrusted("grant is signed by a key that may not grant this case")
    body, signature = grant[:-SIGNATURE_SIZE], grant[-SIGNATURE_SIZE:]
    try:
        signer.verify(body, signature)
    except nacl.exceptions.BadSignatureError as err:
        raise GrantSignatureInvalid("grant signature does not verify") from err
    pos = SIGNER_OFFSET + SIGNER_SIZE
    granter = KeyId(body[pos : pos + KEY_ID_SIZE])
    recipient = KeyId(body[pos + KEY_ID_SIZE : pos + 2 * KEY_ID_SIZE])
    pos += 2 * KEY_ID_SIZE
    at = int.from_bytes(body[pos : pos + TIME_SIZE], "big")
    pos += TIME_SIZE
    case_id, pos = _label(body, pos, "case id")
    queue, pos = _label(body, pos, "queue")
    if pos >= len(body):
        raise GrantMalformed("grant is truncated")
    count = body[pos]
    pos += 1
    if not 1 <= count <= MAX_STANZAS:
        raise GrantMalformed("stanza count out of range")
    if len(body) - pos != count * STANZA_SIZE:
        raise GrantMalformed("grant stanzas do not fill the grant exactly")
    stanzas: dict[bytes, bytes] = {}
    for i in range(count):
        start = pos + i * STANZA_SIZE
        digest = body[start : start + DIGEST_SIZE]
        if digest in stanzas:
            raise GrantMalformed("grant names one envelope twice")
        stanzas[digest] = body[start + DIGEST_SIZE : start + STANZA_SIZE]
    header = GrantHeader(signer, granter, recipient, at, case_id, queue, tuple(stanzas))
    return header, stanzas


def verify_grant(grant: bytes, *, trusted_signers: Collection[VerifyKey], case_id: str, queue: str) -> GrantHeader:
    """Check signature, structure and binding to the case without opening anything; returns the header.

    What the server and coverage checks use (steps 1-6 of docs/envelope.md, "Grants").
    """
    header, _ = _parse(grant, trusted_signers)
    if header.case_id != case_id:
        raise GrantBindingMismatched("grant belongs to another case")
    if header.queue != queue:
        raise GrantBindingMismatched("grant belongs to another queue")
    return header


def open_grant(
    grant: bytes,
    envelope: bytes,
    *,
    recipient: PrivateKey,
    trusted_signers: Collection[VerifyKey],
    case_id: str,
    queue: str,
) -> bytes:
    """The content key a verified grant gives `recipient` for exactly this `envelope`.

    Checks, in order: magic, version, trusted signer, signature, structure, binding (case id,
    queue), addressed to this key, a stanza for this envelope's digest, the sealed key opens.
    Raises a subclass of GrantRejected. The caller still opens the envelope with every
    envelope check (`crypto.envelope.open_with_content_key`), which a wrong key fails.
    """
    header, stanzas = _parse(grant, trusted_signers)
    if header.case_id != case_id:
        raise GrantBindingMismatched("grant belongs to another case")
    if header.queue != queue:
        raise GrantBindingMismatched("grant belongs to another queue")
    if header.recipient != key_id(recipient.public_key):
        raise GrantBindingMismatched("grant is addressed to another key")
    sealed = stanzas.get(envelope_digest(envelope))
    if sealed is None:
        raise GrantBindingMismatched("grant does not cover this envelope")
    try:
        content_key = SealedBox(recipient).decrypt(sealed)
    except nacl.exceptions.CryptoError as err:
        raise GrantRejected("grant stanza does not open with this key") from err
    if len(content_key) != CONTENT_KEY_SIZE:
        raise GrantRejected("granted content key has the wrong size")
    return content_key


def recipient_of(grant: bytes) -> KeyId:
    """The recipient key id a grant claims (unverified; for indexing by the server)."""
    if len(grant) < MIN_SIZE or grant[:4] != MAGIC:
        raise GrantMalformed("not a Waystation grant")
    start = SIGNER_OFFSET + SIGNER_SIZE + KEY_ID_SIZE
    return KeyId(grant[start : start + KEY_ID_SIZE])
