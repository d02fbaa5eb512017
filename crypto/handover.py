"""Handover files: cases one caseworker hands to a named colleague, sealed to the colleague's key, signed.

Byte layout (all PyNaCl; integers big-endian):

    "WSHO" | version 1 (1 byte) | signer Ed25519 verify key (32) | recipient key id (KEY_ID_SIZE)
    | sealed content key: SealedBox(recipient X25519 key, 32-byte content key) (80)
    | nonce (24) | ciphertext length (4) | XChaCha20-Poly1305(content key, nonce, payload,
      associated data = every byte before the nonce)
    | Ed25519 signature by the signer over every byte before it (64)

A reader MUST reject a file that is shorter than the fixed parts, has another magic or version,
whose ciphertext length does not match, whose signer is not one it trusts, whose signature does
not verify, whose recipient key id is not its own, or whose content key or ciphertext does not
open. The signature is checked first, so nothing unauthenticated is decrypted. The payload is
bound to its recipient twice: the key id is signed and is associated data of the AEAD. Its
length is not padded: a handover is a file a person carries, not a message on the wire.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
import nacl.utils
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey, VerifyKey

from crypto.errors import DecryptionFailed, EnvelopeMalformed, NotARecipient, SignatureInvalid, SignerUntrusted
from crypto.keys import KEY_ID_SIZE, KeyId, key_id

MAGIC = b"WSHO"
VERSION = 1
SIGNER_SIZE = 32
CONTENT_KEY_SIZE = 32
SEALED_KEY_SIZE = CONTENT_KEY_SIZE + 48  # SealedBox: ephemeral public key and MAC
NONCE_SIZE = 24
LENGTH_SIZE = 4
SIGNATURE_SIZE = 64
_HEADER = len(MAGIC) + 1 + SIGNER_SIZE + KEY_ID_SIZE + SEALED_KEY_SIZE
MIN_SIZE = _HEADER + NONCE_SIZE + LENGTH_SIZE + 16 + SIGNATURE_SIZE
#: A handover holds a few cases with their histories; anything bigger is refused unread.
MAX_SIZE = 64 * 1024 * 1024

_encrypt = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt
_decrypt = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt


@dataclass(frozen=True)
class OpenedHandover:
    """A handover that verified and decrypted: who signed it, and its payload."""

    signer: VerifyKey
    recipient: KeyId
    payload: bytes


def seal_handover(payload: bytes, *, recipient: PublicKey, signer: SigningKey) -> bytes:
    """Seal `payload` to `recipient` alone (a fresh content key and nonce) and sign it with `signer`."""
    if len(payload) > MAX_SIZE - MIN_SIZE:
        raise ValueError("a handover may hold at most 64 MiB")
    content_key = nacl.utils.random(CONTENT_KEY_SIZE)
    header = (MAGIC + bytes([VERSION]) + bytes(signer.verify_key) + bytes(key_id(recipient))
              + SealedBox(recipient).encrypt(content_key))
    nonce = nacl.utils.random(NONCE_SIZE)
    ciphertext = _encrypt(payload, header, nonce, content_key)
    body = header + nonce + len(ciphertext).to_bytes(LENGTH_SIZE, "big") + ciphertext
    return body + signer.sign(body).signature


def open_handover(data: bytes, *, recipient: PrivateKey, trusted_signers: Collection[VerifyKey]) -> OpenedHandover:
    """Verify (magic, version, signer, signature, recipient) and decrypt a handover; raises EnvelopeRejected leaves."""
    if not MIN_SIZE <= len(data) <= MAX_SIZE or data[: len(MAGIC)] != MAGIC:
        raise EnvelopeMalformed("this is not a Waystation handover file")
    if data[len(MAGIC)] != VERSION:
        raise EnvelopeMalformed(f"handover version {data[len(MAGIC)]} is not known here")
    pos = len(MAGIC) + 1
    signer = VerifyKey(data[pos : pos + SIGNER_SIZE])
    pos += SIGNER_SIZE
    if signer not in trusted_signers:
        raise SignerUntrusted("the handover is signed by a key that is not an active caseworker on your roster")
    body, signature = data[:-SIGNATURE_SIZE], data[-SIGNATURE_SIZE:]
    try:
        signer.verify(body, signature)
    except nacl.exceptions.BadSignatureError as err:
        raise SignatureInvalid("the handover's signature does not verify (the file was changed)") from err
    wanted = KeyId(data[pos : pos + KEY_ID_SIZE])
    pos += KEY_ID_SIZE
    if wanted != key_id(recipient.public_key):
        raise NotARecipient("the handover is sealed to someone else's key")
    sealed_key = data[pos : pos + SEALED_KEY_SIZE]
    pos += SEALED_KEY_SIZE
    header, nonce = data[:pos], data[pos : pos + NONCE_SIZE]
    pos += NONCE_SIZE
    length = int.from_bytes(data[pos : pos + LENGTH_SIZE], "big")
    pos += LENGTH_SIZE
    if pos + length != len(body):
        raise EnvelopeMalformed("the handover's length fields do not match its size")
    try:
        content_key = SealedBox(recipient).decrypt(sealed_key)
        payload = _decrypt(body[pos:], header, nonce, content_key)
    except nacl.exceptions.CryptoError as err:
        raise DecryptionFailed("the handover does not decrypt with your key") from err
    return OpenedHandover(signer, wanted, payload)
