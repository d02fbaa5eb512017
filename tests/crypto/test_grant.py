"""Grants (crypto/grant.py): each check of docs/envelope.md, "Grants", refuses what it should, in order."""

from __future__ import annotations

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from crypto.envelope import Kind, open_with_content_key, recover_content_key, seal
from crypto.errors import (
    DecryptionFailed,
    GrantBindingMismatched,
    GrantMalformed,
    GrantRejected,
    GrantSignatureInvalid,
    GrantSignerUntrusted,
    NotARecipient,
)
from crypto.grant import (
    coarse_hour,
    envelope_digest,
    make_grant,
    open_grant,
    recipient_of,
    verify_grant,
)
from crypto.keys import key_id

T = 1_767_229_321  # not on the hour


class Team:
    """A bot, a granter who was sealed to, and a newcomer who was not."""

    def __init__(self) -> None:
        self.bot = SigningKey.generate()
        self.granter_sign, self.granter_box = SigningKey.generate(), PrivateKey.generate()
        self.newcomer = PrivateKey.generate()
        self.envelope = self.request("case-a")

    def request(self, case_id: str, queue: str = "main") -> bytes:
        return seal(b'{"answers":{}}', kind=Kind.REQUEST, case_id=case_id, queue=queue,
                    recipients=[self.granter_box.public_key], signer=self.bot)

    def key_of(self, envelope: bytes, case_id: str = "case-a", queue: str = "main") -> bytes:
        return recover_content_key(envelope, recipient=self.granter_box, trusted_signers=[self.bot.verify_key],
                                   case_id=case_id, queue=queue, kinds={Kind.REQUEST})

    def grant(self, envelope: bytes | None = None, case_id: str = "case-a", queue: str = "main") -> bytes:
        envelope = envelope or self.envelope
        return make_grant({envelope_digest(envelope): self.key_of(envelope, case_id, queue)}, case_id=case_id,
                          queue=queue, recipient=self.newcomer.public_key, granter=self.granter_box.public_key,
                          signer=self.granter_sign, at=T)

    def open(self, grant: bytes, envelope: bytes | None = None, **changes: object) -> bytes:
        kwargs: dict[str, object] = dict(recipient=self.newcomer, trusted_signers=[self.granter_sign.verify_key],
                                         case_id="case-a", queue="main")
        kwargs.update(changes)
        return open_grant(grant, envelope or self.envelope, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def team() -> Team:
    return Team()


def test_the_newcomer_opens_the_request_through_the_grant(team: Team) -> None:
    with pytest.raises(NotARecipient):
        recover_content_key(team.envelope, recipient=team.newcomer, trusted_signers=[team.bot.verify_key],
                            case_id="case-a", queue="main", kinds={Kind.REQUEST})
    grant = team.grant()
    key = team.open(grant)
    opened = open_with_content_key(team.envelope, key, trusted_signers=[team.bot.verify_key], case_id="case-a",
                                   queue="main", kinds={Kind.REQUEST})
    assert opened.payload == b'{"answers":{}}'
    header = verify_grant(grant, trusted_signers=[team.granter_sign.verify_key], case_id="case-a", queue="main")
    assert header.at == coarse_hour(T) and header.recipient == key_id(team.newcomer.public_key)
    assert header.granter == key_id(team.granter_box.public_key) and recipient_of(grant) == header.recipient


def test_a_grant_signed_by_an_untrusted_key_is_refused_before_anything_is_read(team: Team) -> None:
    with pytest.raises(GrantSignerUntrusted):
        team.open(team.grant(), trusted_signers=[SigningKey.generate().verify_key])


def test_a_flipped_byte_anywhere_breaks_the_signature(team: Team) -> None:
    grant = team.grant()
    for position in (37, 45, 55, 62, 90, len(grant) - 70, len(grant) - 1):
        tampered = bytearray(grant)
        tampered[position] ^= 0x01
        with pytest.raises(GrantSignatureInvalid):
            team.open(bytes(tampered))


def test_a_grant_re_signed_by_another_key_is_refused(team: Team) -> None:
    """A forger who re-signs the body with their own key is not a trusted signer, even with the signer swapped."""
    grant = team.grant()
    forger = SigningKey.generate()
    body = grant[:5] + bytes(forger.verify_key) + grant[37:-64]
    with pytest.raises(GrantSignerUntrusted):
        team.open(body + forger.sign(body).signature)


def test_a_grant_for_case_a_does_not_open_case_b(team: Team) -> None:
    other = team.request("case-b")
    grant = team.grant()
    with pytest.raises(GrantBindingMismatched, match="another case"):
        team.open(grant, other, case_id="case-b")
    with pytest.raises(GrantBindingMismatched, match="does not cover"):
        team.open(grant, other)  # even if the server claims case-b's envelope belongs to case-a
    with pytest.raises(GrantBindingMismatched, match="another queue"):
        team.open(grant, queue="legal")


def test_a_grant_names_exact_envelope_bytes(team: Team) -> None:
    """Another envelope of the same case (say, a second request sealed alike) is not covered."""
    second = team.request("case-a")
    with pytest.raises(GrantBindingMismatched, match="does not cover"):
        team.open(team.grant(), second)


def test_a_grant_to_someone_else_is_refused(team: Team) -> None:
    with pytest.raises(GrantBindingMismatched, match="another key"):
        team.open(team.grant(), recipient=PrivateKey.generate())


def test_a_wrong_content_key_fails_the_envelope_aead(team: Team) -> None:
    """A signed grant carrying a wrong key is caught by the envelope itself."""
    wrong = make_grant({envelope_digest(team.envelope): bytes(32)}, case_id="case-a", queue="main",
                       recipient=team.newcomer.public_key, granter=team.granter_box.public_key,
                       signer=team.granter_sign, at=T)
    key = team.open(wrong)
    with pytest.raises(DecryptionFailed):
        open_with_content_key(team.envelope, key, trusted_signers=[team.bot.verify_key], case_id="case-a",
                              queue="main", kinds={Kind.REQUEST})


@pytest.mark.parametrize("cut", [0, 10, 80, 150])
def test_truncated_or_foreign_bytes_are_malformed(team: Team, cut: int) -> None:
    grant = team.grant()
    with pytest.raises(GrantRejected):
        team.open(grant[:cut])
    with pytest.raises(GrantMalformed):
        team.open(b"WSEV" + grant[4:])
    with pytest.raises(GrantMalformed):
        team.open(grant[:4] + b"\x02" + grant[5:])


def test_trailing_bytes_inside_the_signature_are_malformed(team: Team) -> None:
    grant = team.grant()
    body = grant[:-64] + b"\x00"
    with pytest.raises(GrantMalformed):
        team.open(body + team.granter_sign.sign(body).signature)


def test_making_a_grant_checks_its_inputs(team: Team) -> None:
    key = team.key_of(team.envelope)
    common = dict(recipient=team.newcomer.public_key, granter=team.granter_box.public_key,
                  signer=team.granter_sign, at=T)
    with pytest.raises(ValueError, match="1..64"):
        make_grant({}, case_id="case-a", queue="main", **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="case id"):
        make_grant({envelope_digest(team.envelope): key}, case_id="Case A", queue="main", **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="32-byte"):
        make_grant({b"short": key}, case_id="case-a", queue="main", **common)  # type: ignore[arg-type]
