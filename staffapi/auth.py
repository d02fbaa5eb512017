"""Who is calling: bounded body, request budgets, RFC 9421 signature, verified roster, nonce.

Checks run cheapest first, and a request stops at the first that fails, so a
stranger costs the server next to nothing (docs/staff-api.md):
declared body size (413, nothing read); unsigned (401, spending the address's
budget); the roster, verified once and kept while its files are unchanged
(503); the keyid the signature names, looked up on the roster without
verifying anything: an unknown one spends the address's budget and is refused
(401), a known one spends that key's budget (429 when it is used up); only
then is the body read (413) and the signature checked (401; a failure also
spends the address's budget), then membership active (401), and last the
nonce, the only database write (401 if replayed). Role and queue checks
(403/404) belong to each operation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from nacl.signing import VerifyKey
from starlette.requests import Request

from crypto.roster import Member, Roster
from staff.errors import SignatureRejected
from staff.httpsig import (
    WINDOW_SECONDS,
    HeaderPairs,
    ReceivedRequest,
    VerifiedSignature,
    key_id,
    verify_request,
)
from staffapi.limits import Buckets, Limits
from staffapi.problems import BodyTooLarge, RateLimited, Unauthenticated, Unavailable
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


def check_declared_size(request: Request, limit: int = MAX_BODY) -> None:
    """Refuse (413) a body whose Content-Length is over `limit`, before reading any of it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body is over {limit // 1024} KiB")


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request body, refusing (413) as soon as it is known to exceed `limit` bytes."""
    check_declared_size(request, limit)
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


_KEYID = re.compile(r';\s*keyid="([^"\\]{1,200})"')
MAX_SIGNATURE_INPUT = 4096


def claimed_keyid(request: Request) -> str | None:
    """The keyid the Signature-Input names: not proved yet, used only to choose whose budget the request spends."""
    value = request.headers.get("signature-input")
    if value is None or len(value) > MAX_SIGNATURE_INPUT:
        return None
    match = _KEYID.search(value)
    return match.group(1) if match else None


def client_address(request: Request) -> str:
    """The peer's address (behind a proxy, the proxy's); kept only in memory, as a budget's name."""
    return request.client.host if request.client is not None else "unknown"


async def _spend(buckets: Buckets, name: str) -> None:
    if not await buckets.take(name):
        raise RateLimited(buckets.retry_after)


class Authenticator:
    """The checks of the module docstring over one server, with its budgets."""

    def __init__(self, server: Server, limits: Limits) -> None:
        self.server = server
        self.limits = limits
        self._members: tuple[Roster, dict[str, Member]] | None = None

    def members(self, roster: Roster) -> Mapping[str, Member]:
        """Roster members by keyid, computed once per verified roster."""
        if self._members is None or self._members[0] is not roster:
            self._members = (roster, {key_id(m.identity.verify_key): m for m in roster.members})
        return self._members[1]

    async def authenticate(self, request: Request, now: int) -> tuple[Caller, bytes]:
        """Run every check in order; the caller and the body once all pass."""
        limits = self.limits
        limits.tick()
        check_declared_size(request)
        address = client_address(request)
        if not {"signature", "signature-input"} & set(request.headers.keys()):
            await _spend(limits.per_address, address)
            raise Unauthenticated("the request is not signed", "unsigned")  # before any work for a stranger
        try:
            roster = self.server.roster(now)
        except RosterUnavailable as err:
            raise Unavailable("the server's roster does not verify: an admin must fix it") from err
        members = self.members(roster)
        keyid = claimed_keyid(request)
        if keyid is None or keyid not in members:
            await _spend(limits.per_address, address)
            # The same words as for a bad signature: a stranger learns nothing about which keys exist.
            raise Unauthenticated("the request signature does not verify", "signature_invalid")
        await _spend(limits.per_key, keyid)
        body = await read_body(request)

        def resolve(name: str) -> VerifyKey | None:
            member = members.get(name) if name == keyid else None  # only the key whose budget was spent
            return None if member is None else member.identity.verify_key

        try:
            verified = _verify_any(request, body, resolve, now)
        except Unauthenticated:
            await limits.per_address.take(address)  # a failed signature is a stranger's doing: their address pays too
            raise
        member = members[verified.keyid]
        if not member.active(now):
            # Said only to the holder of the key: the signature above proved it.
            raise Unauthenticated("this key is revoked or expired on the roster", "not_active")
        if not NonceStore(self.server.db, WINDOW_SECONDS).use(verified.nonce, now):
            raise Unauthenticated("this request was seen before (replayed nonce)", "replayed")
        return Caller(member, roster, now), body
