"""Every server key on every blob: sealed boxes, envelope recipient stanzas, secret boxes, AEADs.

Independent of Waystation's own opening code (which checks signers and
bindings an attacker does not care about): envelopes are parsed from the byte
layout in docs/envelope.md, signatures ignored. Whatever opens is searched
again for blobs inside it (JSON strings that decode from base64), so a reply
handle inside a reply inside an envelope is opened too.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
from nacl.public import SealedBox
from nacl.secret import SecretBox

from tests.seizure.keys import KeyRing

MAGIC = b"WSEV"
SEALED_OVERHEAD = 48  # ephemeral public key + MAC
STANZA = 88
KEY_ID = 8
NONCE = 24
MAX_DEPTH = 3


@dataclass(frozen=True)
class Opened:
    """A blob some server key opened; `how` names the key, never its bytes."""

    where: str
    how: str
    plaintext: bytes


@dataclass(frozen=True)
class EnvelopeHeader:
    """The cleartext header of an envelope as the attacker parses it."""

    kind: int
    case_id: str
    queue: str
    stanzas: tuple[bytes, ...]
    header: bytes
    nonce: bytes
    ciphertext: bytes  # possibly truncated when carved from a page


def parse_envelope(blob: bytes) -> EnvelopeHeader | None:
    """The header, stanzas, nonce and ciphertext of an envelope (v1 layout), or None."""
    try:
        if blob[:4] != MAGIC:
            return None
        pos = 38
        l1 = blob[pos]
        case_id = blob[pos + 1 : pos + 1 + l1].decode("ascii")
        pos += 1 + l1
        l2 = blob[pos]
        queue = blob[pos + 1 : pos + 1 + l2].decode("ascii")
        pos += 1 + l2
        count = blob[pos]
        pos += 1
        stanzas = tuple(blob[pos + i * STANZA : pos + (i + 1) * STANZA] for i in range(count))
        if not stanzas or any(len(s) != STANZA for s in stanzas):
            return None
        pos += count * STANZA
        header = blob[:pos]
        nonce = blob[pos : pos + NONCE]
        (size,) = struct.unpack(">I", blob[pos + NONCE : pos + NONCE + 4])
        ciphertext = blob[pos + NONCE + 4 : pos + NONCE + 4 + size]
        return EnvelopeHeader(blob[5], case_id, queue, stanzas, header, nonce, ciphertext)
    except (IndexError, UnicodeDecodeError, struct.error):
        return None


def _unpad(padded: bytes) -> bytes:
    length = int.from_bytes(padded[:4], "big")
    return padded[4 : 4 + length] if 4 + length <= len(padded) else padded


def _aead(key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytes | None:
    try:
        return bytes(nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, ad or None, nonce, key))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        return None


def _open_envelope(blob: bytes, ring: KeyRing) -> Iterable[tuple[str, bytes]]:
    envelope = parse_envelope(blob)
    if envelope is None:
        return
    content_keys: list[tuple[str, bytes]] = []
    for index, stanza in enumerate(envelope.stanzas):
        for name, key in ring.box_keys:
            try:
                content_keys.append((f"envelope stanza {index} with {name}",
                                     SealedBox(key).decrypt(stanza[KEY_ID:])))
            except (nacl.exceptions.CryptoError, ValueError):
                continue
    content_keys += [(f"envelope content key = {k.name}", k.material) for k in ring.symmetric]
    for how, content_key in content_keys:
        if len(content_key) != 32:
            yield f"{how} (content key of odd size)", content_key
            continue
        plain = _aead(content_key, envelope.nonce, envelope.ciphertext, envelope.header)
        if plain is not None:
            yield how, _unpad(plain)
        elif how.startswith("envelope stanza"):
            # The content key itself opened: a finding even if the ciphertext was carved short.
            yield f"{how} (content key only; ciphertext truncated or not found)", b""


def _open_once(blob: bytes, ring: KeyRing) -> Iterable[tuple[str, bytes]]:
    if len(blob) > SEALED_OVERHEAD:
        for name, key in ring.box_keys:
            try:
                yield f"sealed box with {name}", SealedBox(key).decrypt(blob)
            except (nacl.exceptions.CryptoError, ValueError):
                continue
    if blob[:4] == MAGIC:
        yield from _open_envelope(blob, ring)
    if len(blob) > NONCE + 16:
        for secret in ring.symmetric:
            try:
                yield f"secret box with {secret.name}", SecretBox(secret.material).decrypt(blob)
            except (nacl.exceptions.CryptoError, ValueError):
                pass
            plain = _aead(secret.material, blob[:NONCE], blob[NONCE:], b"")
            if plain is not None:
                yield f"XChaCha20-Poly1305 with {secret.name}", plain


def embedded_blobs(plaintext: bytes) -> list[tuple[str, bytes]]:
    """Blobs inside a plaintext: JSON string values that decode from base64 (at least 32 bytes)."""
    try:
        obj = json.loads(plaintext.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return []
    found: list[tuple[str, bytes]] = []
    stack: list[tuple[str, object]] = [("", obj)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            stack.extend((f"{path}.{k}", v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(item))
        elif isinstance(item, str) and len(item) >= 44:
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    found.append((path or "value", decode(item + "=" * (-len(item) % 4))))
                    break
                except (binascii.Error, ValueError):
                    continue
    return found


def open_blob(blob: bytes, ring: KeyRing, where: str, depth: int = 0) -> list[Opened]:
    """Every way any server key opens this blob, and whatever opens inside what opened."""
    results: list[Opened] = []
    for how, plain in _open_once(blob, ring):
        results.append(Opened(where, how, plain))
        if depth < MAX_DEPTH:
            for path, inner in embedded_blobs(plain):
                results += open_blob(inner, ring, f"{where} -> {how} -> {path}", depth + 1)
    return results


def carve_envelopes(data: bytes) -> list[tuple[int, bytes]]:
    """Envelopes found anywhere in a byte region (free space included), by magic; possibly truncated."""
    found = []
    start = data.find(MAGIC + b"\x01")
    while start != -1:
        found.append((start, data[start:]))
        start = data.find(MAGIC + b"\x01", start + 1)
    return found
