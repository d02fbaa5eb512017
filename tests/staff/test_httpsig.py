"""RFC 9421 signing with PyNaCl: known answers from the RFCs, then our profile's checks."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import httpx
import pytest
from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier
from nacl.signing import SigningKey, VerifyKey

from staff.errors import SignatureRejected
from staff.httpsig import (
    WINDOW_SECONDS,
    HeaderPairs,
    NaclEd25519,
    ReceivedRequest,
    content_digest,
    key_id,
    sign_request,
    verify_request,
)

# RFC 9421 appendix B.1.4 (test-key-ed25519, JWK "d" and "x") and B.2.6 (the signed request).
RFC_SEED = base64.urlsafe_b64decode("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU=")
RFC_PUBLIC = base64.urlsafe_b64decode("JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs=")
RFC_SIGNATURE_INPUT = ('sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length")'
                       ';created=1618884473;keyid="test-key-ed25519"')
RFC_SIGNATURE = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"


class _RfcKeys:
    def resolve_private_key(self, _: str) -> SigningKey:
        return SigningKey(RFC_SEED)

    def resolve_public_key(self, _: str) -> VerifyKey:
        return VerifyKey(RFC_PUBLIC)


def _rfc_request() -> httpx.Request:
    return httpx.Request("POST", "https://example.com/foo?param=Value&Pet=dog", content=b'{"hello": "world"}',
                         headers={"Date": "Tue, 20 Apr 2021 02:07:55 GMT", "Content-Type": "application/json"})


def test_ed25519_signature_matches_rfc9421_b26() -> None:
    assert bytes(SigningKey(RFC_SEED).verify_key) == RFC_PUBLIC
    request = _rfc_request()
    HTTPMessageSigner(signature_algorithm=NaclEd25519, key_resolver=_RfcKeys()).sign(  # type: ignore[arg-type]
        request, key_id="test-key-ed25519", created=datetime.fromtimestamp(1618884473, UTC), label="sig-b26",
        include_alg=False,
        covered_component_ids=("date", "@method", "@path", "@authority", "content-type", "content-length"))
    assert request.headers["signature-input"] == RFC_SIGNATURE_INPUT
    assert request.headers["signature"] == RFC_SIGNATURE


def test_rfc9421_b26_signature_verifies_and_a_changed_byte_does_not() -> None:
    verifier = HTTPMessageVerifier(signature_algorithm=NaclEd25519, key_resolver=_RfcKeys())  # type: ignore[arg-type]
    request = _rfc_request()
    request.headers["Signature-Input"] = RFC_SIGNATURE_INPUT
    request.headers["Signature"] = RFC_SIGNATURE
    (result,) = verifier.verify(request, max_age=None)
    assert result.parameters["keyid"] == "test-key-ed25519"
    request.headers["Date"] = "Tue, 20 Apr 2021 02:07:56 GMT"
    with pytest.raises(Exception, match="signature does not verify"):
        verifier.verify(request, max_age=None)


def test_content_digest_matches_rfc9530() -> None:
    assert content_digest(b'{"hello": "world"}') == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    assert content_digest(b'{"hello": "world"}\n') == "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"


KEY = SigningKey.generate()


def _resolve(keyid: str) -> VerifyKey | None:
    return KEY.verify_key if keyid == key_id(KEY.verify_key) else None


def _signed(body: bytes = b"", at: float | None = None, method: str = "POST") -> ReceivedRequest:
    request = httpx.Request(method, "https://staff.example.org/api/v1/cases/abc/claim", content=body or None)
    sign_request(request, KEY, body, now=time.time() if at is None else at)
    return ReceivedRequest(request.method, str(request.url), HeaderPairs(request.headers.items()))


def test_profile_covers_method_target_and_digest_with_nonce_and_tag() -> None:
    message = _signed(b"{}")
    fields = dict(message.headers.items())
    assert fields["signature-input"].startswith('ws=("@method" "@target-uri" "content-digest");created=')
    assert 'alg="ed25519"' in fields["signature-input"] and 'tag="waystation-staff"' in fields["signature-input"]
    verified = verify_request(message, b"{}", _resolve, now=time.time())
    assert verified.key == KEY.verify_key and len(verified.nonce) == 24
    assert '("@method" "@target-uri");' in dict(_signed().headers.items())["signature-input"]


def test_two_signatures_never_share_a_nonce() -> None:
    first, second = (verify_request(_signed(), b"", _resolve, now=time.time()) for _ in range(2))
    assert first.nonce != second.nonce


@pytest.mark.parametrize("skew", [-WINDOW_SECONDS, 0, WINDOW_SECONDS])
def test_created_at_the_edges_of_the_window_is_accepted(skew: int) -> None:
    t = int(time.time())
    assert verify_request(_signed(at=t + skew), b"", _resolve, now=t).created == t + skew


@pytest.mark.parametrize("skew", [-WINDOW_SECONDS - 1, WINDOW_SECONDS + 1])
def test_created_just_outside_the_window_is_refused(skew: int) -> None:
    t = int(time.time())
    with pytest.raises(SignatureRejected) as caught:
        verify_request(_signed(at=t + skew), b"", _resolve, now=t)
    assert caught.value.code == "signature_expired"


def test_unknown_key_and_bad_signature_look_the_same() -> None:
    def nobody(_: str) -> VerifyKey | None:
        return None

    def someone_else(_: str) -> VerifyKey:
        return SigningKey.generate().verify_key

    codes = set()
    for resolve in (nobody, someone_else):
        with pytest.raises(SignatureRejected) as caught:
            verify_request(_signed(), b"", resolve, now=time.time())
        codes.add((caught.value.code, str(caught.value)))
    assert len(codes) == 1


def test_changed_body_or_missing_digest_is_refused() -> None:
    with pytest.raises(SignatureRejected, match="does not verify"):
        verify_request(_signed(b'{"a":1}'), b'{"a":2}', _resolve, now=time.time())
    with pytest.raises(SignatureRejected, match="does not verify"):
        verify_request(_signed(b""), b'{"a":1}', _resolve, now=time.time())


def test_unsigned_request_has_its_own_code() -> None:
    message = ReceivedRequest("GET", "https://staff.example.org/api/v1/info", HeaderPairs([("host", "x")]))
    with pytest.raises(SignatureRejected) as caught:
        verify_request(message, b"", _resolve, now=time.time())
    assert caught.value.code == "unsigned"


def test_sha512_digest_is_not_accepted() -> None:
    message = _signed(b"{}")
    pairs = [(n, v) for n, v in message.headers.items() if n != "content-digest"]
    pairs.append(("content-digest", "sha-512=:" + base64.b64encode(bytes(64)).decode() + ":"))
    with pytest.raises(SignatureRejected):
        verify_request(ReceivedRequest(message.method, message.url, HeaderPairs(pairs)), b"{}", _resolve,
                       now=time.time())
