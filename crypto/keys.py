"""Staff and bot identities: an Ed25519 signing key plus an X25519 encryption key.

A staff key file keeps the private half encrypted under a passphrase
(Argon2id from libsodium, parameters recorded in the file). The bot's key file
keeps it in the clear: the bot must use it unattended, and the server's
secrets directory (mode 0700, files 0600) is its only protection.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NewType

import nacl.bindings
import nacl.exceptions
import nacl.hash
import nacl.pwhash
import nacl.utils
from nacl.encoding import RawEncoder
from nacl.public import PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey

from crypto.encoding import b64, dump_object, expect, load_object, unb64
from crypto.errors import KeyFileInvalid, PassphraseRejected

KeyId = NewType("KeyId", bytes)
Fingerprint = NewType("Fingerprint", str)

KEY_ID_SIZE = 8
SEED_SIZE = 32
PRIVATE_FORMAT = "waystation-identity"
PUBLIC_FORMAT = "waystation-public-key"
FORMAT_VERSION = 1
MAX_NAME_LENGTH = 64


@dataclass(frozen=True)
class KdfLimits:
    """Argon2id cost parameters (operations and memory in bytes)."""

    opslimit: int
    memlimit: int


KDF_SENSITIVE = KdfLimits(nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE, nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE)
KDF_MODERATE = KdfLimits(nacl.pwhash.argon2id.OPSLIMIT_MODERATE, nacl.pwhash.argon2id.MEMLIMIT_MODERATE)
KDF_INTERACTIVE = KdfLimits(
    nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE, nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
)
#: Only for tests: far too cheap to protect a real key.
KDF_MINIMUM = KdfLimits(nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)


def check_name(name: str) -> str:
    """Return a staff name if it is 1..64 printable characters, else raise KeyFileInvalid."""
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise KeyFileInvalid(f"a name must be 1 to {MAX_NAME_LENGTH} characters")
    if not name.isprintable() or name != name.strip():
        raise KeyFileInvalid("a name must be printable, without leading or trailing spaces")
    return name


def key_id(box_key: PublicKey) -> KeyId:
    """A short, stable identifier of an X25519 public key, used to find one's slot in an envelope."""
    return KeyId(
        nacl.hash.blake2b(bytes(box_key), digest_size=KEY_ID_SIZE, person=b"waystation-kid", encoder=RawEncoder)
    )


@dataclass(frozen=True)
class PublicIdentity:
    """The public half of an identity: what the roster lists and senders encrypt to."""

    name: str
    verify_key: VerifyKey
    box_key: PublicKey

    @cached_property
    def key_id(self) -> KeyId:
        """The envelope slot identifier of this identity's encryption key (computed once)."""
        return key_id(self.box_key)

    def fingerprint(self) -> Fingerprint:
        """Six groups of five digits that two people can compare aloud."""
        return fingerprint(self.verify_key, self.box_key)


def fingerprint(verify_key: VerifyKey, box_key: PublicKey) -> Fingerprint:
    """Six groups of five digits (about 99 bits) derived from both public keys."""
    digest = nacl.hash.blake2b(
        bytes(verify_key) + bytes(box_key), digest_size=30, person=b"waystation-fpr", encoder=RawEncoder
    )
    groups = [int.from_bytes(digest[i : i + 5], "big") % 100_000 for i in range(0, 30, 5)]
    return Fingerprint(" ".join(f"{g:05d}" for g in groups))


@dataclass(frozen=True)
class Identity:
    """A whole identity with its private keys; lives in memory only while needed."""

    name: str
    signing_key: SigningKey
    box_private: PrivateKey

    @classmethod
    def generate(cls, name: str) -> Identity:
        """Create a fresh identity with keys from the operating system's CSPRNG."""
        return cls(check_name(name), SigningKey.generate(), PrivateKey.generate())

    @classmethod
    def from_seeds(cls, name: str, sign_seed: bytes, box_secret: bytes) -> Identity:
        """Rebuild an identity from its 32-byte signing seed and 32-byte X25519 secret."""
        if len(sign_seed) != SEED_SIZE or len(box_secret) != SEED_SIZE:
            raise KeyFileInvalid(f"both private keys must be {SEED_SIZE} bytes")
        return cls(check_name(name), SigningKey(sign_seed), PrivateKey(box_secret))

    @cached_property
    def public(self) -> PublicIdentity:
        """The public half of this identity (computed once, with its key id)."""
        return PublicIdentity(self.name, self.signing_key.verify_key, self.box_private.public_key)

    def _secret(self) -> bytes:
        return bytes(self.signing_key) + bytes(self.box_private)


def _public_fields(public: PublicIdentity) -> dict[str, object]:
    return {"name": public.name, "sign": b64(bytes(public.verify_key)), "box": b64(bytes(public.box_key))}


def dump_public(public: PublicIdentity) -> bytes:
    """Serialise a public identity as a `.pub` file (JSON, with its fingerprint for people)."""
    obj: dict[str, object] = {"format": PUBLIC_FORMAT, "version": FORMAT_VERSION, **_public_fields(public)}
    obj["fingerprint"] = public.fingerprint()
    return dump_object(obj) + b"\n"


def _parse_public(obj: dict[str, object], what: str) -> PublicIdentity:
    name = check_name(expect(obj, "name", str, what, KeyFileInvalid))
    sign = unb64(obj.get("sign"), 32, f"{what} signing key", KeyFileInvalid)
    box = unb64(obj.get("box"), 32, f"{what} encryption key", KeyFileInvalid)
    try:
        return PublicIdentity(name, VerifyKey(sign), PublicKey(box))
    except (ValueError, TypeError, nacl.exceptions.CryptoError) as err:
        raise KeyFileInvalid(f"{what} holds an invalid key") from err


def public_from_json(obj: dict[str, object]) -> PublicIdentity:
    """Build a public identity from its JSON fields (name, sign, box)."""
    return _parse_public(obj, "public key")


def public_to_json(public: PublicIdentity) -> dict[str, object]:
    """The JSON fields (name, sign, box) of a public identity."""
    return _public_fields(public)


def load_public(data: bytes) -> PublicIdentity:
    """Parse a `.pub` file; a fingerprint, if present, must match the keys."""
    obj = load_object(data, "public key file", KeyFileInvalid)
    if obj.get("format") != PUBLIC_FORMAT or obj.get("version") != FORMAT_VERSION:
        raise KeyFileInvalid("not a Waystation public key file (format or version)")
    public = _parse_public(obj, "public key file")
    if "fingerprint" in obj and obj["fingerprint"] != public.fingerprint():
        raise KeyFileInvalid("public key file fingerprint does not match its keys")
    return public


def _aad(public: PublicIdentity) -> bytes:
    # Binds the encrypted secret to the recorded public keys and name, so that a
    # key file whose public part was swapped fails to unlock instead of
    # silently pairing someone else's public key with our private key.
    return dump_object({"format": PRIVATE_FORMAT, "version": FORMAT_VERSION, **_public_fields(public)})


def dump_identity(identity: Identity, passphrase: bytes | None, limits: KdfLimits = KDF_MODERATE) -> bytes:
    """Serialise an identity; the private part is encrypted unless passphrase is None (bot key)."""
    public = identity.public
    obj: dict[str, object] = {"format": PRIVATE_FORMAT, "version": FORMAT_VERSION, "public": _public_fields(public)}
    if passphrase is None:
        obj["kdf"] = {"alg": "none"}
        obj["secret"] = b64(identity._secret())
    else:
        if not passphrase:
            raise PassphraseRejected("an empty passphrase cannot protect a key")
        salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
        key = nacl.pwhash.argon2id.kdf(32, passphrase, salt, limits.opslimit, limits.memlimit)
        nonce = nacl.utils.random(nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
        sealed = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            identity._secret(), _aad(public), nonce, key
        )
        obj["kdf"] = {"alg": "argon2id13", "opslimit": limits.opslimit, "memlimit": limits.memlimit, "salt": b64(salt)}
        obj["nonce"] = b64(nonce)
        obj["secret"] = b64(sealed)
    return dump_object(obj) + b"\n"


def identity_is_locked(data: bytes) -> bool:
    """Whether a key file needs a passphrase."""
    obj = load_object(data, "key file", KeyFileInvalid)
    if obj.get("format") == PUBLIC_FORMAT:
        raise KeyFileInvalid("this is a public key file (.pub); the private key file is needed")
    kdf = obj.get("kdf")
    return not (isinstance(kdf, dict) and kdf.get("alg") == "none")


def load_identity(data: bytes, passphrase: bytes | None) -> Identity:
    """Parse a key file and unlock it; raises PassphraseRejected or KeyFileInvalid."""
    obj = load_object(data, "key file", KeyFileInvalid)
    if obj.get("format") != PRIVATE_FORMAT or obj.get("version") != FORMAT_VERSION:
        if obj.get("format") == PUBLIC_FORMAT:
            raise KeyFileInvalid("this is a public key file (.pub); the private key file is needed")
        raise KeyFileInvalid("not a Waystation key file (format or version)")
    public_obj = obj.get("public")
    if not isinstance(public_obj, dict):
        raise KeyFileInvalid("key file has no public part")
    public = _parse_public(public_obj, "key file")
    kdf = obj.get("kdf")
    if not isinstance(kdf, dict):
        raise KeyFileInvalid("key file has no kdf section")
    if kdf.get("alg") == "none":
        secret = unb64(obj.get("secret"), 2 * SEED_SIZE, "key file secret", KeyFileInvalid)
    elif kdf.get("alg") == "argon2id13":
        secret = _unlock(obj, kdf, public, passphrase)
    else:
        raise KeyFileInvalid("key file uses an unknown kdf")
    identity = Identity.from_seeds(public.name, secret[:SEED_SIZE], secret[SEED_SIZE:])
    if identity.public != public:
        raise KeyFileInvalid("key file private keys do not match its public keys")
    return identity


def _unlock(obj: dict[str, object], kdf: dict[str, object], public: PublicIdentity, passphrase: bytes | None) -> bytes:
    if not passphrase:
        raise PassphraseRejected("this key file needs a passphrase")
    opslimit = expect(kdf, "opslimit", int, "kdf", KeyFileInvalid)
    memlimit = expect(kdf, "memlimit", int, "kdf", KeyFileInvalid)
    if not (KDF_MINIMUM.opslimit <= opslimit <= 64 and KDF_MINIMUM.memlimit <= memlimit <= 4 * 2**30):
        raise KeyFileInvalid("key file kdf parameters are out of range")
    salt = unb64(kdf.get("salt"), nacl.pwhash.argon2id.SALTBYTES, "kdf salt", KeyFileInvalid)
    nonce = unb64(obj.get("nonce"), nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce", KeyFileInvalid)
    sealed = unb64(obj.get("secret"), 2 * SEED_SIZE + 16, "key file secret", KeyFileInvalid)
    key = nacl.pwhash.argon2id.kdf(32, passphrase, salt, opslimit, memlimit)
    try:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(sealed, _aad(public), nonce, key)
    except nacl.exceptions.CryptoError as err:
        raise PassphraseRejected("wrong passphrase (or the key file was altered)") from err
