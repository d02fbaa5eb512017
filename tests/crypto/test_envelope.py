"""Envelope v1: round trips and every way an envelope must be rejected."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from crypto.envelope import SIGNATURE_SIZE, Kind, open_envelope, seal, verify
from crypto.errors import (
    BindingMismatched,
    EnvelopeMalformed,
    EnvelopeRejected,
    NoRecipients,
    NotARecipient,
    PayloadTooLarge,
    SignatureInvalid,
    SignerUntrusted,
    UnknownVersion,
)
from crypto.padding import BUCKETS, MAX_PAYLOAD

SIGNER = SigningKey.generate()
RECIPIENTS = [PrivateKey.generate() for _ in range(5)]
OUTSIDER = PrivateKey.generate()


def make(payload: bytes = b"hello", *, recipients: list[PrivateKey] | None = None, kind: Kind = Kind.REQUEST,
         case_id: str = "case-1", queue: str = "main") -> bytes:
    keys = [r.public_key for r in (recipients if recipients is not None else RECIPIENTS)]
    return seal(payload, kind=kind, case_id=case_id, queue=queue, recipients=keys, signer=SIGNER)


def open_as(envelope: bytes, recipient: PrivateKey = RECIPIENTS[0], *, case_id: str = "case-1",
            queue: str = "main", kinds: frozenset[Kind] = frozenset({Kind.REQUEST})) -> bytes:
    return open_envelope(envelope, recipient=recipient, trusted_signers=[SIGNER.verify_key],
                         case_id=case_id, queue=queue, kinds=kinds).payload


def resign(body: bytes, signer: SigningKey = SIGNER) -> bytes:
    """Sign arbitrary body bytes as the trusted signer would (to reach the parser's checks)."""
    return body + signer.sign(body).signature


def test_every_recipient_opens() -> None:
    envelope = make(b"x" * 2048)
    for r in RECIPIENTS:
        assert open_as(envelope, r) == b"x" * 2048


def test_open_rejects_flipped_byte_at_every_position() -> None:
    envelope = make(b"tiny", recipients=RECIPIENTS[:1])
    for position in range(len(envelope)):
        for mask in (0x01, 0x80):
            tampered = bytearray(envelope)
            tampered[position] ^= mask
            with pytest.raises(EnvelopeRejected):
                open_as(bytes(tampered))


def test_open_rejects_every_truncation_and_extension() -> None:
    envelope = make(b"tiny", recipients=RECIPIENTS[:1])
    for length in range(len(envelope)):
        with pytest.raises(EnvelopeRejected):
            open_as(envelope[:length])
    with pytest.raises(EnvelopeRejected):
        open_as(envelope + b"\x00")


def test_open_rejects_wrong_recipient() -> None:
    with pytest.raises(NotARecipient):
        open_as(make(), OUTSIDER)


def test_open_rejects_wrong_queue_case_and_kind() -> None:
    envelope = make()
    with pytest.raises(BindingMismatched):
        open_as(envelope, queue="legal")
    with pytest.raises(BindingMismatched):
        open_as(envelope, case_id="case-2")
    with pytest.raises(BindingMismatched):
        open_as(envelope, kinds=frozenset({Kind.NOTE}))


def test_open_rejects_unknown_version_even_when_signed() -> None:
    envelope = make()
    body = envelope[:-SIGNATURE_SIZE]
    with pytest.raises(UnknownVersion):
        open_as(resign(body[:4] + b"\x02" + body[5:]))


def test_open_rejects_untrusted_signer() -> None:
    other = SigningKey.generate()
    envelope = seal(b"x", kind=Kind.REQUEST, case_id="case-1", queue="main",
                    recipients=[RECIPIENTS[0].public_key], signer=other)
    with pytest.raises(SignerUntrusted):
        open_as(envelope)


def test_signer_swapped_for_trusted_key_fails_signature() -> None:
    other = SigningKey.generate()
    envelope = bytearray(seal(b"x", kind=Kind.REQUEST, case_id="case-1", queue="main",
                              recipients=[RECIPIENTS[0].public_key], signer=other))
    envelope[6:38] = bytes(SIGNER.verify_key)
    with pytest.raises(SignatureInvalid):
        open_as(bytes(envelope))


def test_signed_but_malformed_bodies_are_rejected() -> None:
    body = make(recipients=RECIPIENTS[:1])[:-SIGNATURE_SIZE]
    with pytest.raises(EnvelopeMalformed):
        open_as(resign(body + b"\x00"))  # trailing byte inside the signed body
    with pytest.raises(EnvelopeMalformed):
        open_as(resign(body[:5] + b"\x09" + body[6:]))  # unknown kind
    with pytest.raises(EnvelopeMalformed):
        open_as(resign(body[:38] + b"\x06CASE-1" + body[45:]))  # upper case is outside the alphabet
    with pytest.raises(EnvelopeMalformed):
        open_as(resign(b"XXXX" + body[4:]))


def test_wrong_content_key_slot_fails_decryption() -> None:
    """A signer that wrote garbage into a recipient slot still gets a typed error."""
    body = bytearray(make(recipients=RECIPIENTS[:1])[:-SIGNATURE_SIZE])
    slot = 38 + 1 + len("case-1") + 1 + len("main") + 1 + 8
    body[slot + 40] ^= 0xFF
    from crypto.errors import DecryptionFailed

    with pytest.raises(DecryptionFailed):
        open_as(resign(bytes(body)))


def test_verify_checks_without_decrypting() -> None:
    header = verify(make(), trusted_signers=[SIGNER.verify_key], case_id="case-1", queue="main",
                    kinds={Kind.REQUEST})
    assert header.queue == "main" and len(header.recipients) == 5


def test_padding_hides_length_within_a_bucket() -> None:
    assert len(make(b"a")) == len(make(b"a" * 400))
    assert len(make(b"a" * 600)) > len(make(b"a" * 400))


def test_every_bucket_round_trips_at_its_edges() -> None:
    for size in BUCKETS:
        payload = b"z" * (size - 4)
        assert open_as(make(payload, recipients=RECIPIENTS[:1])) == payload


def test_too_large_payload_is_refused() -> None:
    with pytest.raises(PayloadTooLarge):
        make(b"x" * (MAX_PAYLOAD + 1))


def test_no_recipients_is_refused() -> None:
    with pytest.raises(NoRecipients):
        make(recipients=[])


def test_duplicate_recipients_are_sealed_once() -> None:
    envelope = make(recipients=[RECIPIENTS[0], RECIPIENTS[0]])
    header = verify(envelope, trusted_signers=[SIGNER.verify_key], case_id="case-1", queue="main",
                    kinds={Kind.REQUEST})
    assert len(header.recipients) == 1


def test_bad_labels_are_refused_when_sealing() -> None:
    with pytest.raises(ValueError):
        make(queue="Main Queue")
    with pytest.raises(ValueError):
        make(case_id="")


def test_each_seal_uses_fresh_randomness() -> None:
    assert make(b"same") != make(b"same")


@settings(max_examples=60, deadline=None)
@given(
    payload=st.binary(max_size=3000),
    queue=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True),
    case_id=st.from_regex(r"[a-z0-9][a-z0-9-]{0,30}", fullmatch=True),
    kind=st.sampled_from(list(Kind)),
)
def test_round_trip_property(payload: bytes, queue: str, case_id: str, kind: Kind) -> None:
    envelope = make(payload, recipients=RECIPIENTS[:2], kind=kind, case_id=case_id, queue=queue)
    assert open_as(envelope, RECIPIENTS[1], case_id=case_id, queue=queue, kinds=frozenset({kind})) == payload
