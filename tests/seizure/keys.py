"""Every secret a seized server home holds, and every key an attacker can derive from them.

Read straight from the files (not through Waystation's loaders, which refuse
what they do not expect): each file under secrets/ is taken as raw bytes, as
hex, as base64 and as JSON whose string values are base64, so that a key
added tomorrow under a new name is tried too.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from pathlib import Path

import nacl.exceptions
import nacl.hash
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from storage.chatstate import state_key


@dataclass(frozen=True)
class NamedKey:
    """Key material and where it came from (the name is printed, never the bytes)."""

    name: str
    material: bytes


@dataclass
class KeyRing:
    """What the attacker holds: the database key, X25519 private keys, symmetric keys."""

    db_keys: list[NamedKey] = field(default_factory=list)
    box_keys: list[tuple[str, PrivateKey]] = field(default_factory=list)
    symmetric: list[NamedKey] = field(default_factory=list)
    secrets_read: list[str] = field(default_factory=list)

    def add_box(self, name: str, secret: bytes) -> None:
        if len(secret) == 32 and all(bytes(k) != secret for _, k in self.box_keys):
            self.box_keys.append((name, PrivateKey(secret)))

    def add_symmetric(self, name: str, secret: bytes) -> None:
        if len(secret) == 32 and all(k.material != secret for k in self.symmetric):
            self.symmetric.append(NamedKey(name, secret))


def _decodings(raw: bytes) -> list[tuple[str, bytes]]:
    """The file as raw bytes, as hex, as base64; and every base64 string inside it if it is JSON."""
    out = [("raw", raw)]
    text = raw.decode("ascii", errors="ignore").strip()
    try:
        out.append(("hex", bytes.fromhex(text)))
    except ValueError:
        pass
    try:
        out.append(("base64", base64.b64decode(text, validate=True)))
    except (binascii.Error, ValueError):
        pass
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return out
    stack: list[tuple[str, object]] = [("json", obj)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            stack.extend((f"{path}.{k}", v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(item))
        elif isinstance(item, str):
            try:
                out.append((path, base64.b64decode(item, validate=True)))
            except (binascii.Error, ValueError):
                pass
    return out


def _derived(name: str, material: bytes, ring: KeyRing) -> None:
    """Keys a careless design might derive from one secret."""
    for size in (32, 64):
        if len(material) == size:
            # 64 bytes: an Ed25519 seed || X25519 secret (Waystation's bot identity) or a signing key.
            halves = [material] if size == 32 else [material[:32], material[32:]]
            for i, half in enumerate(halves):
                label = name if size == 32 else f"{name}[{i * 32}:{i * 32 + 32}]"
                ring.add_box(label, half)
                ring.add_symmetric(label, half)
                try:
                    curve = SigningKey(half).to_curve25519_private_key()
                    ring.add_box(f"{label} as Ed25519 seed -> X25519", bytes(curve))
                except (ValueError, TypeError, nacl.exceptions.CryptoError):
                    pass
    if material:
        ring.add_symmetric(f"blake2b-256({name})",
                           nacl.hash.blake2b(material, digest_size=32, encoder=RawEncoder))
        ring.add_box(f"blake2b-256({name}) as X25519", nacl.hash.blake2b(material, digest_size=32, encoder=RawEncoder))
        ring.add_symmetric(f"sha256({name})", nacl.hash.sha256(material, encoder=RawEncoder))


def read_keys(home: Path, extra_db_keys: list[bytes] | None = None) -> KeyRing:
    """Every secret of the home (files under secrets/, any depth) and everything derived from them."""
    ring = KeyRing()
    secrets = home / "secrets"
    for path in sorted(p for p in secrets.rglob("*") if p.is_file()) if secrets.is_dir() else []:
        name = str(path.relative_to(home))
        ring.secrets_read.append(name)
        raw = path.read_bytes()
        for how, material in _decodings(raw):
            label = f"{name} ({how})"
            if path.name.startswith("db.key") and len(material) == 32:
                ring.db_keys.append(NamedKey(label, material))
                # The key Waystation derives for chats.state: tried on every other blob too.
                ring.add_symmetric(f"chat state key of {label}", state_key(material))
            _derived(label, material, ring)
    for i, key in enumerate(extra_db_keys or []):
        ring.db_keys.append(NamedKey(f"given database key {i}", key))
        ring.add_symmetric(f"chat state key of given database key {i}", state_key(key))
    return ring
