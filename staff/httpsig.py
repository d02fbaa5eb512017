"""HTTP Message Signatures (RFC 9421) for the staff API, with Ed25519 and SHA-256 from PyNaCl.

The `http-message-signatures` library builds and parses the signature base
and the Signature / Signature-Input / Content-Digest fields; every
cryptographic operation (Ed25519 sign and verify, the RFC 9530 SHA-256 body
digest) is done here with PyNaCl, so no other crypto library touches a key.

Profile (see docs/staff-api.md): label `ws`, tag `waystation-staff`, covered
`"@method"`, `"@target-uri"` and, when there is a body, `"content-digest"`;
parameters `created`, `keyid` (standard base64 of the Ed25519 public key),
`alg="ed25519"`, `nonce` (base64url of 18 random bytes) and `tag`. A
verifier accepts `created` within WINDOW_SECONDS of its own clock either way.
Replays (a nonce seen before) are the caller's business: see storage.nonces.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

import nacl.exceptions
import nacl.hash
import nacl.utils
from http_message_signatures import (
    ContentDigest,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureAlgorithm,
    HTTPSignatureKeyResolver,
)
from http_message_signatures.exceptions import (
    HTTPMessageSignaturesException,
    InvalidSignature,
)
from nacl.encoding import RawEncoder
from nacl.signing import SigningKey, VerifyKey

from crypto.encoding import b64
from staff.errors import SignatureRejected

LABEL = "ws"
TAG = "waystation-staff"
ALGORITHM = "ed25519"
WINDOW_SECONDS = 60
NONCE_BYTES = 18
COVERED: tuple[str, ...] = ("@method", "@target-uri")
SIGNATURE_SIZE = 64

_NONCE = re.compile(r"^[A-Za-z0-9_-]{22,128}$")


class HttpMessage(Protocol):
    """What the library reads from a request: method, absolute encoded URL, headers with items()."""

    @property
    def method(self) -> str: ...

    @property
    def url(self) -> Any: ...

    @property
    def headers(self) -> Any: ...


class NaclEd25519(HTTPSignatureAlgorithm):
    """RFC 9421 `ed25519` (section 3.3.6) with PyNaCl keys instead of `cryptography` ones."""

    algorithm_id = ALGORITHM

    def __init__(self, public_key: VerifyKey | None = None, private_key: SigningKey | None = None) -> None:
        if public_key is not None and not isinstance(public_key, VerifyKey):
            raise HTTPMessageSignaturesException("ed25519 needs a nacl.signing.VerifyKey")
        if private_key is not None and not isinstance(private_key, SigningKey):
            raise HTTPMessageSignaturesException("ed25519 needs a nacl.signing.SigningKey")
        self.public_key = public_key
        self.private_key = private_key

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached signature of the signature base."""
        if self.private_key is None:
            raise HTTPMessageSignaturesException("no private key to sign with")
        return bytes(self.private_key.sign(message).signature)

    def verify(self, signature: bytes, message: bytes) -> None:
        """Return None if the signature is valid, else raise InvalidSignature."""
        if self.public_key is None:
            raise HTTPMessageSignaturesException("no public key to verify with")
        if len(signature) != SIGNATURE_SIZE:
            raise InvalidSignature("an ed25519 signature is 64 bytes")
        try:
            self.public_key.verify(message, signature)
        except nacl.exceptions.BadSignatureError as err:
            raise InvalidSignature("signature does not verify") from err


class _NaclSha256:
    """The small hashlib-like surface ContentDigest uses, backed by libsodium's SHA-256."""

    digest_size = 32

    def __init__(self, data: bytes = b"") -> None:
        self._data = data

    def digest(self) -> bytes:
        return bytes(nacl.hash.sha256(self._data, encoder=RawEncoder))


class NaclContentDigest(ContentDigest):
    """RFC 9530 Content-Digest, sha-256 only (other algorithms are refused, not silently trusted)."""

    algorithm = "sha-256"
    _hashers: ClassVar[dict[str, Any]] = {"sha-256": _NaclSha256}


def content_digest(body: bytes) -> str:
    """The Content-Digest field value of `body` (`sha-256=:...:`)."""
    return str(NaclContentDigest.create(body))


def key_id(key: VerifyKey) -> str:
    """The `keyid` of a staff member: standard base64 of the 32-byte Ed25519 public key."""
    return b64(bytes(key))


def new_nonce() -> str:
    """A fresh nonce: base64url (no padding) of 18 random bytes."""
    return base64.urlsafe_b64encode(nacl.utils.random(NONCE_BYTES)).decode("ascii").rstrip("=")


class _Keys(HTTPSignatureKeyResolver):
    def __init__(self, private: SigningKey | None = None,
                 public: Callable[[str], VerifyKey | None] | None = None) -> None:
        self._private = private
        self._public = public

    def resolve_private_key(self, key_id: str) -> SigningKey:
        if self._private is None:
            raise HTTPMessageSignaturesException("no signing key")
        return self._private

    def resolve_public_key(self, key_id: str) -> VerifyKey | None:
        return None if self._public is None else self._public(key_id)


class _Signer(HTTPMessageSigner):
    content_digest_class = NaclContentDigest


def sign_request(message: HttpMessage, signing_key: SigningKey, body: bytes, *, now: float,
                 nonce: str | None = None) -> None:
    """Add Signature-Input, Signature and (for a non-empty body) Content-Digest to `message`.

    `now` is the signer's clock (seconds); `nonce` defaults to a fresh one.
    Existing signature and digest fields are replaced.
    """
    for name in [n for n, _ in message.headers.items()]:
        if name.lower() in ("content-digest", "signature", "signature-input") and name in message.headers:
            del message.headers[name]
    _Signer(signature_algorithm=NaclEd25519, key_resolver=_Keys(private=signing_key)).sign(
        message,
        key_id=key_id(signing_key.verify_key),
        created=datetime.fromtimestamp(int(now), UTC),
        nonce=new_nonce() if nonce is None else nonce,
        label=LABEL,
        tag=TAG,
        include_alg=True,
        covered_component_ids=COVERED,
        body=body or None,
    )


class _ClockRefused(InvalidSignature):
    """`created` (or `expires`) is outside the accepted window."""


class _Verifier(HTTPMessageVerifier):
    content_digest_class = NaclContentDigest

    def __init__(self, resolve: Callable[[str], VerifyKey | None], now: float, window: int) -> None:
        super().__init__(signature_algorithm=NaclEd25519, key_resolver=_Keys(public=resolve))
        self._now = now
        self._window = window

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        # Our own clock and a symmetric window replace the library's wall clock and 5 s skew.
        created = sig_input.params.get("created")
        if type(created) is not int:
            raise InvalidSignature('the signature has no integer "created" parameter')
        if abs(created - self._now) > self._window:
            raise _ClockRefused(f'"created" is more than {self._window} s away from the server clock')
        expires = sig_input.params.get("expires")
        if expires is not None and (type(expires) is not int or expires < self._now):
            raise _ClockRefused('the signature has expired ("expires")')


@dataclass(frozen=True)
class VerifiedSignature:
    """What a valid signature vouches for: whose key, which nonce, when."""

    key: VerifyKey
    keyid: str
    nonce: str
    created: int


class HeaderPairs:
    """Header field lines as (name, value) text pairs, the read-only view the library needs."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._pairs = list(pairs)

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


@dataclass(frozen=True)
class ReceivedRequest:
    """A request as the server received it, in the shape the library reads."""

    method: str
    url: str
    headers: HeaderPairs


def verify_request(message: HttpMessage, body: bytes, resolve: Callable[[str], VerifyKey | None], *,
                   now: float, window: int = WINDOW_SECONDS) -> VerifiedSignature:
    """Check one `ws`-profile signature over `message` and `body`; raise SignatureRejected.

    `resolve` maps a keyid to a public key, or None for an unknown key. The
    codes are `unsigned`, `signature_expired` and `signature_invalid` (every
    other failure, including an unknown key: a stranger learns nothing about
    which keys exist). The nonce is checked for form only, not for reuse.
    """
    names = {name.lower() for name, _ in message.headers.items()}
    if "signature" not in names and "signature-input" not in names:
        raise SignatureRejected("unsigned", "the request is not signed")
    verifier = _Verifier(resolve, now, window)
    try:
        results = verifier.verify(message, max_age=None, expect_tag=TAG, require_components=COVERED, body=body)
    except _ClockRefused as err:
        raise SignatureRejected("signature_expired", f"{err}: check the clock") from err
    except (HTTPMessageSignaturesException, ValueError, TypeError, KeyError) as err:
        raise SignatureRejected("signature_invalid", "the request signature does not verify") from err
    if len(results) != 1:
        raise SignatureRejected("signature_invalid", "exactly one staff signature is expected")
    params = results[0].parameters
    keyid, nonce, alg = params.get("keyid"), params.get("nonce"), params.get("alg")
    if alg != ALGORITHM or not isinstance(keyid, str):
        raise SignatureRejected("signature_invalid", 'the signature must name its "alg" and "keyid"')
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        raise SignatureRejected("signature_invalid", 'the signature needs a "nonce" of 22..128 base64url characters')
    key = resolve(keyid)
    if key is None:  # resolved once already by the library; checked again for the type checker
        raise SignatureRejected("signature_invalid", "the request signature does not verify")
    return VerifiedSignature(key, keyid, nonce, int(params["created"]))
