"""The remote staff client: signed requests to the staff API; nothing it answers is trusted unverified.

Each command starts with GET /api/v1/info: the roster must verify against the
admin keys pinned for this server and the bot keys must match the pinned ones
(staff.pins); the caller must be on that roster. Requests are then verified
(bot signature, binding to case id and queue) and decrypted here, with the
caseworker's own key; notes and replies are sealed here before they leave.
Errors are typed (staff.errors) and worded for a person.
"""

from __future__ import annotations

import base64
import builtins
import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Self

import httpx
from nacl.public import PublicKey
from nacl.signing import VerifyKey

from crypto.envelope import valid_case_id
from crypto.errors import CryptoError
from crypto.keys import Identity, PublicIdentity, check_name
from crypto.roster import Member as RosterMember
from crypto.roster import Role, Roster
from model.cases import Case, CaseId, Event, EventKind, Status
from model.text import clean_text
from model.views import CaseView, ReadState
from staff import listing, team
from staff.casework import CaseDetail, fold_tags, read_event, read_request, seal_note, seal_reply, seal_tag, with_tags
from staff.errors import (
    AssignmentRefused,
    CaseUnavailable,
    ChangeRefused,
    InputRejected,
    NotAllowed,
    NotOnRoster,
    ServerAnswerInvalid,
    ServerFailed,
    ServerUnreachable,
    SignatureRefused,
    StaffError,
)
from staff.grants import GrantBook, GrantOutcome, choose_recipient, grant_to
from staff.httpsig import sign_request
from staff.listing import CaseReader
from staff.pins import PinStore, trust_server
from staff.stats import Stats, remember_urgency, weeks_start
from staff.stats import build as build_stats
from staff.team import Member, check_assignee
from staff.wire import b64_field as _b64
from staff.wire import case_from_json, event_from_json, times_from_json

FULL_ID_LENGTH = 16
MIN_PREFIX = 6

SIGNATURE_SENTENCES = {
    "unsigned": "the server saw no signature on the request (does a proxy strip the Signature headers?)",
    "signature_invalid": "the server did not accept your signature: your key is not on its roster, or the "
                         "address you gave is not the one the server sees (check --server)",
    "signature_expired": "the server says your computer's clock is more than a minute off: correct it and retry",
    "replayed": "the server had already seen this request (replay refused): retry",
    "not_active": "your key is revoked or expired on the roster: ask an admin",
}


class _StaleRecipients(InputRejected):
    """The server's roster differs from the one we sealed to."""


def normalize_server(url: str) -> str:
    """The base URL as pins are keyed: scheme, host, port and path prefix, no trailing slash.

    Plain http is accepted only for loopback and .onion addresses; anything
    else must use https (TLS is the reverse proxy's job on the server).
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as err:
        raise InputRejected(f"{url!r} is not a server address") from err
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InputRejected("the server address must start with https:// and name a host")
    loopback = parsed.host in ("localhost", "127.0.0.1", "::1") or parsed.host.endswith(".onion")
    if parsed.scheme == "http" and not loopback:
        raise InputRejected("use https:// for a server that is not on this machine")
    return str(parsed.copy_with(query=None, fragment=None)).rstrip("/")


def safe_text(value: object, limit: int = 300) -> str:
    """Server-supplied text made harmless for a terminal (no control characters), and short."""
    return clean_text(str(value)).replace("\n", " ")[:limit]


@dataclass(frozen=True)
class Session:
    """A verified view of one server: roster, bot keys, and our own roster entry."""

    roster: Roster
    me: RosterMember
    bot_keys: list[VerifyKey]
    bot_box: PublicKey
    newly_pinned: list[str]
    now: int


class RemoteStaff:
    """One caseworker (or volunteer) talking to one staff server."""

    def __init__(self, server: str, identity: Identity, pins: PinStore, *, clock: Callable[[], float] = time.time,
                 http: httpx.Client | None = None, timeout: float = 30.0) -> None:
        self.server = normalize_server(server)
        self.identity = identity
        self.pins = pins
        self.clock = clock
        self.http = http or httpx.Client(timeout=timeout)
        self._session: Session | None = None
        self._case_reader: CaseReader | None = None
        #: The urgency answer of each case this client has decrypted (for statistics; nothing else is kept).
        self.urgency: dict[CaseId, str] = {}

    # -- transport ---------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              params: dict[str, str] | None = None) -> dict[str, Any]:
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        headers = {"content-type": "application/json"} if body is not None else {}
        request = self.http.build_request(method, self.server + path, params=params, content=content or None,
                                          headers=headers)
        sign_request(request, self.identity.signing_key, content, now=self.clock())
        try:
            response = self.http.send(request)
        except httpx.HTTPError as err:
            raise ServerUnreachable(f"cannot reach the server at {self.server}: {type(err).__name__}") from err
        if response.status_code >= 400:
            raise self._refusal(response)
        try:
            answer = response.json()
        except ValueError as err:
            raise ServerAnswerInvalid("the server's answer is not JSON") from err
        if not isinstance(answer, dict):
            raise ServerAnswerInvalid("the server's answer is not a JSON object")
        return answer

    def _refusal(self, response: httpx.Response) -> StaffError:
        try:
            doc = response.json()
            code, message = str(doc.get("error")), safe_text(doc.get("message", ""))
        except (ValueError, AttributeError):
            code, message = "", ""
        status = response.status_code
        if status == 401:
            return SignatureRefused(SIGNATURE_SENTENCES.get(code, "the server did not accept your signature"))
        if status == 403:
            return NotAllowed(f"the server refused: {message or 'your role or queues do not allow this'}")
        if status == 404:
            return CaseUnavailable("no such case in your queues")
        if status == 409:
            return ChangeRefused(message or "the case's status does not allow this")
        if status == 413:
            return InputRejected("the server refused the request as too large (over 256 KiB)")
        if status == 422:
            if code == "assignee_refused":
                return AssignmentRefused(message or "the server refused that assignment")
            error = _StaleRecipients if code == "stale_recipients" else InputRejected
            return error(f"the server refused the request: {message or 'malformed'}")
        if status == 503:
            return ServerFailed(f"the server cannot serve staff now: {message or 'try later'}")
        return ServerFailed(f"the server answered HTTP {status}: try later or tell an admin")

    # -- trust -------------------------------------------------------------------

    def _info(self) -> tuple[PublicIdentity, list[VerifyKey], bytes]:
        answer = self._call("GET", "/api/v1/info")
        try:
            bot_obj = answer["bot"]
            bot = PublicIdentity(check_name(bot_obj["name"]), VerifyKey(_b64(bot_obj["sign"], "bot key")),
                                 PublicKey(_b64(bot_obj["box"], "bot key")))
            previous = [VerifyKey(_b64(k, "bot key")) for k in answer["previous_bot_signing_keys"]]
            return bot, previous, _b64(answer["roster"], "roster")
        except (KeyError, TypeError, ValueError, CryptoError) as err:
            raise ServerAnswerInvalid("the server's /info answer is malformed") from err

    def presented_bot(self) -> PublicIdentity:
        """The bot keys the server presents now, unverified: only to compare with a fingerprint read aloud."""
        return self._info()[0]

    def connect(self) -> Session:
        """Fetch /info, verify the roster and bot keys against the pins, find ourselves on the roster."""
        bot, previous, roster_data = self._info()
        now = int(self.clock())
        trusted = trust_server(self.pins, self.server, roster_data, bot, previous, now)
        me = trusted.roster.by_verify_key(self.identity.signing_key.verify_key)
        if me is None or me.identity.box_key != self.identity.box_private.public_key:
            raise NotOnRoster("your key is not on this server's roster")
        if not me.active(now):
            raise NotOnRoster(f"{me.name} is revoked or expired on the roster")
        self._session = Session(trusted.roster, me, trusted.bot_keys, trusted.bot_box, trusted.newly_pinned, now)
        return self._session

    @property
    def session(self) -> Session:
        """The verified session, connecting on first use."""
        return self._session or self.connect()

    def _caseworker(self) -> Session:
        session = self.session
        if session.me.role is not Role.CASEWORKER:
            raise NotOnRoster(f"{session.me.name} is a {session.me.role.value}, not a caseworker: "
                              "this key reads no case")
        return session

    # -- reading -----------------------------------------------------------------

    def list(self, statuses: list[Status] | None = None) -> list[CaseView]:
        """Cases of my queues; caseworkers get them verified and decrypted (through grants where need be)."""
        return [view for batch in self.list_batches(statuses) for view in batch]

    def _page(self, statuses: builtins.list[Status] | None, content: bool, *, limit: int | None = None,
              after: Case | None = None) -> tuple[builtins.list[Any], int]:
        """One page of GET /cases, and how many cases follow it (0 unless `limit` is given)."""
        params = {"envelopes": "1" if content else "0"}
        if statuses:
            params["status"] = ",".join(s.value for s in statuses)
        if limit is not None:
            params["limit"] = str(limit)
        if after is not None:
            params["after"] = f"{after.created_at}.{after.id}"
        answer = self._call("GET", "/api/v1/cases", params=params)
        remaining = answer.get("remaining", 0)
        return _list(answer, "cases"), remaining if type(remaining) is int and remaining >= 0 else 0

    def list_batches(self, statuses: builtins.list[Status] | None = None) -> Iterator[builtins.list[CaseView]]:
        """The cases list() returns, in the same order, yielded in batches as they are verified and decrypted.

        A first small page is fetched and read at once (a first screen); the rest comes in one
        more request, read by worker processes on every core when it is big (staff.listing).
        """
        session = self.session
        if session.me.role is not Role.CASEWORKER:
            cases = [case_from_json(c) for c in self._page(statuses, False)[0]]
            yield [CaseView(c, ReadState.NOT_FOR_THIS_KEY, None, f"a {session.me.role.value} sees metadata only")
                   for c in cases]
            return
        reader = self._reader(session)
        page, remaining = self._page(statuses, True, limit=listing.FIRST_BATCH)
        first = [case_from_json(c) for c in page]
        fixer = _Fixer(self, session, self.urgency)
        if remaining >= listing.PARALLEL_FROM:
            reader.warm_up()  # the workers start while the first screen is read and the rest is fetched
        if first:
            yield fixer.fix(reader.read(first))
        if len(first) < listing.FIRST_BATCH:
            return
        parallel, last = reader.parallel(remaining), first[-1]
        pending: deque[listing.Pending] = deque()
        try:
            while True:  # page by page: the workers read one page while the server sends the next
                cases = [case_from_json(c) for c in self._page(statuses, True, limit=listing.PAGE, after=last)[0]]
                if cases:
                    last = cases[-1]
                if parallel:
                    pending.extend(reader.submit(cases))
                    while pending and pending[0].done():
                        yield fixer.fix(pending.popleft().result())
                else:
                    for start in range(0, len(cases), listing.BATCH):
                        yield fixer.fix(reader.read(cases[start : start + listing.BATCH]))
                if len(cases) < listing.PAGE:
                    break
            while pending:
                yield fixer.fix(pending.popleft().result())
        finally:
            for batch in pending:
                batch.cancel()

    def _reader(self, session: Session) -> CaseReader:
        """The reader of big lists, for the bot keys of this session (its workers are kept for the next list)."""
        if self._case_reader is None or self._case_reader.bot_keys != session.bot_keys:
            if self._case_reader is not None:
                self._case_reader.close()
            self._case_reader = CaseReader(self.identity, session.bot_keys)
        return self._case_reader

    def read_cases(self, cases: builtins.list[Case]) -> builtins.list[CaseView]:
        """Verify and decrypt listed cases (through grants where need be), with their tags."""
        session = self._caseworker()
        return _Fixer(self, session).fix([read_request(c, self.identity, session.bot_keys) for c in cases])

    def _all_grants(self) -> dict[CaseId, builtins.list[bytes]]:
        """Every grant the server holds for my key, by case (unverified: GrantBook verifies each when used)."""
        grants: dict[CaseId, list[bytes]] = {}
        for item in _list(self._call("GET", "/api/v1/grants"), "grants"):
            if not isinstance(item, dict) or not isinstance(item.get("case_id"), str) \
                    or not valid_case_id(item["case_id"]):
                raise ServerAnswerInvalid("the server sent a malformed grant")
            grants.setdefault(CaseId(item["case_id"]), []).append(_b64(item.get("grant"), "grant"))
        return grants

    def _case_grants(self, case_id: CaseId) -> builtins.list[bytes]:
        answer = self._call("GET", f"/api/v1/cases/{case_id}/grants")
        return [_b64(g, "grant") for g in _list(answer, "grants")]

    def resolve(self, case_ref: str) -> CaseId:
        """A full case id from an id or a unique prefix of at least 6 characters (resolved among my cases)."""
        ref = case_ref.strip().lower()
        if len(ref) >= FULL_ID_LENGTH and valid_case_id(ref):
            return CaseId(ref)
        if len(ref) < MIN_PREFIX or not valid_case_id(ref):
            raise InputRejected(f"give the case id, or at least {MIN_PREFIX} of its first characters")
        answer = self._call("GET", "/api/v1/cases", params={"envelopes": "0"})
        ids = [str(c.get("id")) for c in _list(answer, "cases") if isinstance(c, dict)]
        if ref in ids:
            return CaseId(ref)
        matches = [i for i in ids if i.startswith(ref)]
        if len(matches) != 1:
            raise CaseUnavailable("no such case in your queues" if not matches else f"'{ref}' matches several cases")
        return CaseId(matches[0])

    def _case_and_events(self, case_id: CaseId) -> tuple[Case, builtins.list[Event]]:
        answer = self._call("GET", f"/api/v1/cases/{case_id}")
        case = case_from_json(answer.get("case"))
        if case.id != case_id:
            raise ServerAnswerInvalid("the server answered with another case than the one asked for")
        return case, [event_from_json(e, case.id) for e in _list(answer, "events")]

    def fetch(self, case_ref: str) -> CaseDetail:
        """One case and its events, each verified before it is decrypted (through grants where need be)."""
        session = self._caseworker()
        case, events = self._case_and_events(self.resolve(case_ref))

        def read(book: GrantBook | None) -> CaseDetail:
            view = read_request(case, self.identity, session.bot_keys, book)
            read = [read_event(case, e, self.identity, session.roster, session.bot_keys, session.now, book)
                    for e in events]
            return CaseDetail(replace(view, tags=fold_tags(read)), read)

        detail = read(None)
        if detail.view.state is ReadState.NOT_FOR_THIS_KEY or any(
                e.state is ReadState.NOT_FOR_THIS_KEY for e in detail.events):
            detail = read(GrantBook(self.identity, session.roster, {case.id: self._case_grants(case.id)}))
        return detail

    # -- grants ------------------------------------------------------------------

    def grant(self, name: str, queue: str | None = None) -> GrantOutcome:
        """Re-seal every open case of our shared queues that I can read and `name` cannot, one grant a case."""
        session = self._caseworker()
        recipient, queues = choose_recipient(session.roster, session.me, name, queue, session.now)
        return grant_to(_RemoteCases(self), identity=self.identity, recipient=recipient, queues=queues,
                        roster=session.roster, bot_keys=session.bot_keys, now=int(self.clock()))

    # -- changes -----------------------------------------------------------------

    def _change(self, case_ref: str, action: str) -> Case:
        self._caseworker()
        case_id = self.resolve(case_ref)
        return case_from_json(self._call("POST", f"/api/v1/cases/{case_id}/{action}", {}).get("case"))

    def claim(self, case_ref: str) -> Case:
        """Claim a new case; ChangeRefused if someone was faster."""
        return self._change(case_ref, "claim")

    def take_over(self, case_ref: str) -> Case:
        """Take over a case a colleague claimed; ChangeRefused if it is new, closed or already mine."""
        return self._change(case_ref, "take-over")

    def close(self, case_ref: str) -> Case:
        """Close a case."""
        return self._change(case_ref, "close")

    def reopen(self, case_ref: str) -> Case:
        """Reopen a closed case."""
        return self._change(case_ref, "reopen")

    def _post_sealed(self, path: str, build: Callable[[Session], dict[str, Any]]) -> dict[str, Any]:
        try:
            return self._call("POST", path, build(self.session))
        except _StaleRecipients:
            # The roster changed between our /info and the server's check: verify it again and reseal, once.
            self.connect()
            return self._call("POST", path, build(self.session))

    def note(self, case_ref: str, text: str) -> tuple[CaseId, int]:
        """Seal a note to the queue's caseworkers and store it; returns the case id and the event id."""
        case = self.fetch(case_ref).view.case

        def build(session: Session) -> dict[str, Any]:
            envelope = seal_note(text, case, self.identity, session.roster, int(self.clock()))
            return {"envelope": base64.b64encode(envelope).decode("ascii")}

        return case.id, _int(self._post_sealed(f"/api/v1/cases/{case.id}/notes", build), "event_id")

    def reply(self, case_ref: str, text: str) -> tuple[CaseId, int]:
        """Seal a reply (to the bot, to the person's reply key, a copy for the caseworkers); case and outbox id."""
        view = self.fetch(case_ref).view
        request = view.request
        if view.state is not ReadState.OK or request is None:
            raise InputRejected(f"the request of {view.case.id} does not verify here, so it cannot be answered "
                                f"({view.problem})")

        def build(session: Session) -> dict[str, Any]:
            sealed = seal_reply(text, request, view.case, self.identity, session.roster, session.bot_box,
                                int(self.clock()))
            return {name: base64.b64encode(getattr(sealed, name)).decode("ascii")
                    for name in ("to_bot", "to_person", "copy")}

        return view.case.id, _int(self._post_sealed(f"/api/v1/cases/{view.case.id}/replies", build), "outbox_id")

    def assign(self, case_ref: str, name: str) -> Case:
        """Assign a case to a named active caseworker of its queue (checked on my roster, then by the server)."""
        session = self._caseworker()
        case_id = self.resolve(case_ref)
        case, _ = self._case_and_events(case_id)
        member = check_assignee(session.roster, case, name.strip(), int(self.clock()))
        return case_from_json(self._call("POST", f"/api/v1/cases/{case_id}/assign", {"name": member.name}).get("case"))

    def tag(self, case_ref: str, tag: str, kind: EventKind = EventKind.TAG) -> tuple[CaseId, int]:
        """Seal a tag (or, with EventKind.UNTAG, its removal) like a note and store it; the case and event id."""
        self._caseworker()
        case, _ = self._case_and_events(self.resolve(case_ref))
        op = "add" if kind is EventKind.TAG else "remove"

        def build(session: Session) -> dict[str, Any]:
            envelope = seal_tag(tag, kind, case, self.identity, session.roster, int(self.clock()))
            return {"envelope": base64.b64encode(envelope).decode("ascii"), "op": op}

        return case.id, _int(self._post_sealed(f"/api/v1/cases/{case.id}/tags", build), "event_id")

    def members(self, queue: str | None = None) -> builtins.list[Member]:
        """Colleagues sharing my queues (or `queue`), from the verified roster, with what they cannot read yet."""
        session = self._caseworker()
        if queue is not None and queue not in session.me.queues:
            raise NotAllowed(f"queue '{queue}' is not one of yours")
        answer = self._call("GET", "/api/v1/members", params={} if queue is None else {"queue": queue})
        granted: dict[str, builtins.list[CaseId]] = {}
        for item in _list(answer, "members"):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                    or not isinstance(item.get("granted"), list) \
                    or not all(isinstance(c, str) and valid_case_id(c) for c in item["granted"]):
                raise ServerAnswerInvalid("the server sent a malformed member")
            granted[item["name"]] = [CaseId(c) for c in item["granted"]]
        cases = [case_from_json(c) for c in self._page([Status.NEW, Status.CLAIMED], True)[0]]
        return team.members(session.roster, session.me, queue, cases, session.bot_keys, granted, int(self.clock()))

    def stats(self, weeks: int = 12) -> Stats:
        """Cases per week and times to first claim and reply, from metadata (urgency where already decrypted)."""
        self._caseworker()
        try:
            since = weeks_start(int(self.clock()), weeks)
        except ValueError as err:
            raise InputRejected(str(err)) from err
        times = [times_from_json(t) for t in _list(self._call("GET", "/api/v1/stats", params={"since": str(since)}),
                                                   "cases")]
        return build_stats(times, weeks=weeks, since=since, urgency=self.urgency)

    def close_connection(self) -> None:
        """Close the HTTP client (and stop the workers of big lists)."""
        if self._case_reader is not None:
            self._case_reader.close()
            self._case_reader = None
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_connection()


class _Fixer:
    """What the workers leave to this process: requests granted to me (one GET /grants, if any), and tags."""

    def __init__(self, client: RemoteStaff, session: Session, urgency: dict[CaseId, str] | None = None) -> None:
        self.client = client
        self.session = session
        self.book: GrantBook | None = None
        self.urgency = urgency

    def fix(self, views: list[CaseView]) -> list[CaseView]:
        """The views with granted requests opened and tags read (each grant and tag verified first)."""
        s, identity = self.session, self.client.identity
        if self.book is None and any(v.state is ReadState.NOT_FOR_THIS_KEY or v.case.tag_events for v in views):
            self.book = GrantBook(identity, s.roster, self.client._all_grants())
        if self.book is not None:
            views = [read_request(v.case, identity, s.bot_keys, self.book)
                     if v.state is ReadState.NOT_FOR_THIS_KEY else v for v in views]
        if self.urgency is not None:
            remember_urgency(self.urgency, views)
        return [with_tags(v, identity, s.roster, s.bot_keys, s.now, self.book) if v.case.tag_events else v
                for v in views]


class _RemoteCases:
    """The staff API as a grant source (staff.grants.GrantSource)."""

    def __init__(self, client: RemoteStaff) -> None:
        self.client = client

    def open_cases(self, queues: list[str]) -> list[Case]:
        answer = self.client._call("GET", "/api/v1/cases", params={"envelopes": "0", "status": "new,claimed"})
        return [c for c in (case_from_json(c) for c in _list(answer, "cases")) if c.queue in queues]

    def case_and_events(self, case: Case) -> tuple[Case, list[Event]]:
        return self.client._case_and_events(case.id)

    def my_grants(self, case: Case) -> list[bytes]:
        return self.client._case_grants(case.id)

    def submit_grant(self, case: Case, grant: bytes) -> None:
        self.client._call("POST", f"/api/v1/cases/{case.id}/grants",
                          {"grant": base64.b64encode(grant).decode("ascii")})


def _list(answer: dict[str, Any], key: str) -> list[Any]:
    value = answer.get(key)
    if not isinstance(value, list):
        raise ServerAnswerInvalid(f"the server's answer has no list '{key}'")
    return value


def _int(answer: dict[str, Any], key: str) -> int:
    value = answer.get(key)
    if type(value) is not int:
        raise ServerAnswerInvalid(f"the server's answer has no integer '{key}'")
    return value

