"""Who is calling: bounded body, RFC 9421 signature, verified roster, nonce.

Checks run in this order, and a request stops at the first that fails:
body size (413), signature form and validity against the keys of the
verified roster (401), membership active (401), nonce unused (401). Role and
queue checks (403/404) belong to each operation. The roster is loaded and
verified afresh for every request, so a revocation takes effect at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from nacl.signing import VerifyKey
from starlette.requests import Request

from crypto.roster import Member, Roster
from staff.api.problems import BodyTooLarge, Unauthenticated, Unavailable
from staff.errors import SignatureRejected
from staff.httpsig import (
    WINDOW_SECONDS,
    HeaderPairs,
    ReceivedRequest,
    VerifiedSignature,
    key_id,
    verify_request,
)
from storage.errors import RosterUnavailable
from storage.nonces import NonceStore
from storage.server import Server

MAX_BODY = 256 * 1024


@dataclass(frozen=True)
class Caller:
    """An authenticated staff member, with the roster that vouched for them at `now`."""

    member: Member
    roster: Roster
    now: int

    @property
    def verify_key(self) -> VerifyKey:
        """The member's signing key: the only signer accepted on their notes and replies."""
        return self.member.identity.verify_key


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refusing (413) as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body is over {limit // 1024} KiB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is over {limit // 1024} KiB")
        chunks.append(chunk)
    return b"".join(chunks)


def target_uris(request: Request) -> list[str]:
    """The absolute target URI as the client may have written it: scheme, Host header, raw path, query.

    The raw (still percent-encoded) path is used so that what is verified is
    what was signed. A request that reached us over plain http may have been
    signed for https: TLS usually ends at the reverse proxy (Caddy), which
    keeps the Host header. So the https form is tried second; host, path and
    query stay bound, and the nonce still makes every signature single-use.
    """
    scope = request.scope
    host = request.headers.get("host")
    if not host:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) and raw else quote(str(scope.get("path", "/")))
    query = scope.get("query_string", b"").decode("latin-1")
    rest = f"{host}{path}" + (f"?{query}" if query else "")
    scheme = str(scope.get("scheme", "http"))
    return [f"{scheme}://{rest}"] + ([f"https://{rest}"] if scheme == "http" else [])


def _verify_any(request: Request, body: bytes, resolve: Callable[[str], VerifyKey | None],
                now: int) -> VerifiedSignature:
    headers = HeaderPairs(request.headers.items())
    *first, last = target_uris(request)
    for uri in first:
        try:
            return verify_request(ReceivedRequest(request.method, uri, headers), body, resolve, now=now)
        except SignatureRejected as err:
            if err.code != "signature_invalid":
                raise Unauthenticated(str(err), err.code) from err
    try:
        return verify_request(ReceivedRequest(request.method, last, headers), body, resolve, now=now)
    except SignatureRejected as err:
        raise Unauthenticated(str(err), err.code) from err


def authenticate(server: Server, request: Request, body: bytes, now: int) -> Caller:
    """Verify the request's signature against the verified roster and spend its nonce."""
    if not {"signature", "signature-input"} & {name.lower() for name, _ in request.headers.items()}:
        raise Unauthenticated("the request is not signed", "unsigned")  # before any work for a stranger
    try:
        roster = server.roster(now)
    except RosterUnavailable as err:
        raise Unavailable("the server's roster does not verify: an admin must fix it") from err
    members = {key_id(m.identity.verify_key): m for m in roster.members}

    def resolve(keyid: str) -> VerifyKey | None:
        member = members.get(keyid)
        return None if member is None else member.identity.verify_key

    verified = _verify_any(request, body, resolve, now)
    member = members[verified.keyid]
    if not member.active(now):
        # Said only to the holder of the key: the signature above proved it.
        raise Unauthenticated("this key is revoked or expired on the roster", "not_active")
    if not NonceStore(server.db, WINDOW_SECONDS).use(verified.nonce, now):
        raise Unauthenticated("this request was seen before (replayed nonce)", "replayed")
    return Caller(member, roster, now)
