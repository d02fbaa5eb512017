"""Reply keys and reply handles: how a caseworker's reply reaches a person and nobody else.

Reply key: the X25519 key pair a reply is sealed to is derived from the person's case
reference, which only the person keeps. The server stores the reference only as a peppered
hash, so once a reply's notice has gone out no key on the server opens the reply: reading it
takes the reference (about 53 bits) through Argon2id.

Reply handle: the person's chat id sealed to the bot's own X25519 key, with a tag (keyed
BLAKE2b under a key derived from that same private key) over the handle and the case id. Only
the bot can make a tag, so a caseworker cannot point a reply at a chat the bot did not record
for that very case. The byte-level rules are in docs/envelope.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import nacl.bindings
import nacl.exceptions
import nacl.hash
import nacl.pwhash
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey, PublicKey, SealedBox

from crypto.errors import HandleRejected
from crypto.reference import REFERENCE_COST, ReferenceCost, normalise_reference

#: The Argon2id cost of deriving a reply key: a fixed constant of the format (the reference hash's).
REPLY_KEY_COST = REFERENCE_COST
SALT_PERSON = b"ws-reply-salt"
TAG_KEY_PERSON = b"ws-handle-key"
TAG_PERSON = b"ws-handle-tag"
TAG_SIZE = 16
TAG_KEY_SIZE = 32
MAX_HANDLE = 255
#: Chat ids are signed 64-bit integers in the Bot API.
_CHAT_ID_LIMIT = 2**63
_CHAT_ID = re.compile(r"-?[0-9]{1,19}")


def reply_salt(case_id: str) -> bytes:
    """The Argon2id salt of a case's reply key: BLAKE2b-128 of the case id, personalised `ws-reply-salt`.

    Its own context: the stored reference hash is salted with the server's pepper instead, so
    the two derivations never share an input.
    """
    return nacl.hash.blake2b(case_id.encode("ascii"), digest_size=nacl.pwhash.argon2id.SALTBYTES,
                             person=SALT_PERSON, encoder=RawEncoder)


def derive_reply_key(reference: str, case_id: str, cost: ReferenceCost = REPLY_KEY_COST) -> PrivateKey:
    """The private reply key of a case: Argon2id(16 digits, reply_salt(case id)) used as an X25519 secret.

    Raises ReferenceInvalid if `reference` does not hold 16 digits.
    """
    digits = normalise_reference(reference).encode("ascii")
    seed = nacl.pwhash.argon2id.kdf(32, digits, reply_salt(case_id), cost.opslimit, cost.memlimit)
    return PrivateKey(seed)


def reply_public_key(reference: str, case_id: str, cost: ReferenceCost = REPLY_KEY_COST) -> PublicKey:
    """The public half, which the bot puts in the sealed request for the caseworkers to seal replies to."""
    return derive_reply_key(reference, case_id, cost).public_key


def seal_handle(bot_box: PublicKey, chat_id: int) -> bytes:
    """A chat id sealed to the bot's encryption key (ASCII decimal in a sealed box)."""
    if not -_CHAT_ID_LIMIT <= chat_id < _CHAT_ID_LIMIT:
        raise ValueError("a chat id is a signed 64-bit integer")
    return SealedBox(bot_box).encrypt(str(chat_id).encode("ascii"))


def _tag_key(bot_box: PrivateKey) -> bytes:
    # A separate MAC key: the X25519 secret itself is never used as anything but an X25519 key.
    return nacl.hash.blake2b(bytes(bot_box), digest_size=TAG_KEY_SIZE, person=TAG_KEY_PERSON, encoder=RawEncoder)


def handle_tag(bot_box: PrivateKey, handle: bytes, case_id: str) -> bytes:
    """The bot's tag binding `handle` to `case_id`: keyed BLAKE2b-128 over len(handle) ‖ handle ‖ case id."""
    if not 1 <= len(handle) <= MAX_HANDLE:
        raise ValueError(f"a reply handle is 1..{MAX_HANDLE} bytes")
    message = bytes([len(handle)]) + handle + case_id.encode("ascii")
    return nacl.hash.blake2b(message, digest_size=TAG_SIZE, key=_tag_key(bot_box), person=TAG_PERSON,
                             encoder=RawEncoder)


def open_handle(keys: Sequence[PrivateKey], handle: bytes, tag: bytes, case_id: str) -> int:
    """The chat id behind a handle, if one of the bot's keys (current first, then retired) made its tag.

    The tag is checked (in constant time) before the handle is opened, with the same key.
    Raises HandleRejected if no key made this tag for this case, or the handle does not open.
    """
    if len(tag) != TAG_SIZE or not 1 <= len(handle) <= MAX_HANDLE:
        raise HandleRejected("the reply handle or its tag has the wrong size")
    for key in keys:
        if not nacl.bindings.sodium_memcmp(handle_tag(key, handle, case_id), tag):
            continue
        try:
            text = SealedBox(key).decrypt(handle).decode("ascii")
        except (nacl.exceptions.CryptoError, UnicodeDecodeError) as err:
            raise HandleRejected("the reply handle does not open") from err
        chat_id = int(text) if _CHAT_ID.fullmatch(text) else _CHAT_ID_LIMIT
        if not -_CHAT_ID_LIMIT <= chat_id < _CHAT_ID_LIMIT:
            raise HandleRejected("the reply handle does not hold a chat id")
        return chat_id
    raise HandleRejected("the reply handle was not made by this bot for this case")
