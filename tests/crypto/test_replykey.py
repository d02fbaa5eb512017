"""Reply keys (derived from the reference) and reply handles (bound to their case by the bot's tag)."""

from __future__ import annotations

import nacl.hash
import nacl.pwhash
import nacl.utils
import pytest
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey, SealedBox

from crypto.envelope import Kind, open_envelope, seal
from crypto.errors import HandleRejected, NotARecipient, ReferenceInvalid
from crypto.keys import Identity
from crypto.reference import (
    REFERENCE_COST,
    REFERENCE_COST_MINIMUM,
    hash_reference,
    new_reference,
)
from crypto.replykey import (
    REPLY_KEY_COST,
    TAG_SIZE,
    derive_reply_key,
    handle_tag,
    open_handle,
    reply_public_key,
    reply_salt,
    seal_handle,
)

CHEAP = REFERENCE_COST_MINIMUM
CASE = "abcdefghijklmnop"
REF = "1234 567 890 123 456"


def test_reply_key_cost_is_the_reference_cost() -> None:
    assert REPLY_KEY_COST == REFERENCE_COST


def test_same_reference_and_case_give_the_same_key_however_the_digits_are_typed() -> None:
    key = derive_reply_key(REF, CASE, CHEAP)
    assert bytes(derive_reply_key("1234-5678-9012-3456", CASE, CHEAP)) == bytes(key)
    assert reply_public_key("+1234567890123456", CASE, CHEAP) == key.public_key


def test_another_reference_or_case_or_cost_gives_another_key() -> None:
    key = bytes(derive_reply_key(REF, CASE, CHEAP))
    assert bytes(derive_reply_key("1234 567 890 123 457", CASE, CHEAP)) != key
    assert bytes(derive_reply_key(REF, "abcdefghijklmnoq", CHEAP)) != key
    assert bytes(derive_reply_key(REF, CASE, REFERENCE_COST)) != key


def test_reply_key_is_argon2id_of_the_digits_salted_by_the_case_in_its_own_context() -> None:
    salt = nacl.hash.blake2b(CASE.encode(), digest_size=16, person=b"ws-reply-salt", encoder=RawEncoder)
    assert reply_salt(CASE) == salt
    seed = nacl.pwhash.argon2id.kdf(32, b"1234567890123456", salt, CHEAP.opslimit, CHEAP.memlimit)
    assert bytes(derive_reply_key(REF, CASE, CHEAP)) == seed
    # The stored hash of the same reference is salted with the server's pepper: another value.
    assert seed != hash_reference(REF, nacl.utils.random(16), CHEAP)


def test_a_reply_sealed_to_the_key_opens_only_with_the_right_reference() -> None:
    caseworker = Identity.generate("cas")
    reference = new_reference()
    envelope = seal(b'{"v":1,"text":"hi"}', kind=Kind.REPLY, case_id=CASE, queue="main",
                    recipients=[reply_public_key(reference, CASE, CHEAP)], signer=caseworker.signing_key)
    opened = open_envelope(envelope, recipient=derive_reply_key(reference, CASE, CHEAP),
                           trusted_signers=[caseworker.signing_key.verify_key], case_id=CASE, queue="main",
                           kinds={Kind.REPLY})
    assert opened.payload == b'{"v":1,"text":"hi"}'
    wrong = new_reference()
    with pytest.raises(NotARecipient):
        open_envelope(envelope, recipient=derive_reply_key(wrong, CASE, CHEAP),
                      trusted_signers=[caseworker.signing_key.verify_key], case_id=CASE, queue="main",
                      kinds={Kind.REPLY})


@pytest.mark.parametrize("typed", ["", "12345", "1234 567 890 123 4567", "abcd" * 4])
def test_a_reference_without_16_digits_derives_nothing(typed: str) -> None:
    with pytest.raises(ReferenceInvalid):
        derive_reply_key(typed, CASE, CHEAP)


# -- reply handles -------------------------------------------------------------------------


def test_handle_opens_with_its_tag_for_its_case() -> None:
    bot = PrivateKey.generate()
    handle = seal_handle(bot.public_key, 987_654_321)
    tag = handle_tag(bot, handle, CASE)
    assert len(tag) == TAG_SIZE
    assert open_handle([bot], handle, tag, CASE) == 987_654_321


def test_handle_moved_to_another_case_is_refused() -> None:
    bot = PrivateKey.generate()
    handle = seal_handle(bot.public_key, 42)
    with pytest.raises(HandleRejected):
        open_handle([bot], handle, handle_tag(bot, handle, CASE), "zzzzzzzzzzzzzzzz")


def test_chat_id_sealed_to_the_bot_by_anyone_else_has_no_valid_tag() -> None:
    """A caseworker can seal any chat id to the bot's public key, but cannot make the bot's tag."""
    bot = PrivateKey.generate()
    forged = seal_handle(bot.public_key, 1_000_001)
    for tag in (bytes(TAG_SIZE), nacl.hash.blake2b(forged + CASE.encode(), digest_size=TAG_SIZE, encoder=RawEncoder),
                handle_tag(PrivateKey.generate(), forged, CASE)):
        with pytest.raises(HandleRejected):
            open_handle([bot], forged, tag, CASE)


def test_real_tag_with_a_swapped_handle_is_refused() -> None:
    bot = PrivateKey.generate()
    genuine = seal_handle(bot.public_key, 7)
    tag = handle_tag(bot, genuine, CASE)
    with pytest.raises(HandleRejected):
        open_handle([bot], seal_handle(bot.public_key, 8), tag, CASE)


def test_flipped_tag_bit_is_refused() -> None:
    bot = PrivateKey.generate()
    handle = seal_handle(bot.public_key, 7)
    tag = bytearray(handle_tag(bot, handle, CASE))
    tag[0] ^= 1
    with pytest.raises(HandleRejected):
        open_handle([bot], handle, bytes(tag), CASE)


def test_handle_of_a_retired_key_opens_with_that_key() -> None:
    old, new = PrivateKey.generate(), PrivateKey.generate()
    handle = seal_handle(old.public_key, -100_123)
    assert open_handle([new, old], handle, handle_tag(old, handle, CASE), CASE) == -100_123
    with pytest.raises(HandleRejected):
        open_handle([new], handle, handle_tag(old, handle, CASE), CASE)


@pytest.mark.parametrize("content", [b"", b"12a", b"--5", b"99999999999999999999", b"9223372036854775808", b"1 2"])
def test_tagged_handle_that_holds_no_chat_id_is_refused(content: bytes) -> None:
    bot = PrivateKey.generate()
    handle = SealedBox(bot.public_key).encrypt(content)
    with pytest.raises(HandleRejected):
        open_handle([bot], handle, handle_tag(bot, handle, CASE), CASE)


@pytest.mark.parametrize(("handle", "tag"), [(b"", bytes(16)), (b"x" * 256, bytes(16)), (b"x" * 60, bytes(15)),
                                             (b"x" * 60, bytes(32))])
def test_wrong_sizes_are_refused(handle: bytes, tag: bytes) -> None:
    with pytest.raises(HandleRejected):
        open_handle([PrivateKey.generate()], handle, tag, CASE)


def test_chat_ids_outside_64_bits_are_not_sealed() -> None:
    with pytest.raises(ValueError, match="64-bit"):
        seal_handle(PrivateKey.generate().public_key, 2**63)
