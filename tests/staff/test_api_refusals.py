"""Every refusal of the staff API: its status and code, and that nothing in the database changed.

Each test snapshots cases, events, outbox and audit before the refused
request and compares after it (nonces may be spent; nothing else moves).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from http_message_signatures import HTTPMessageSigner
from nacl.public import PrivateKey, PublicKey

from crypto.envelope import Kind, seal
from crypto.keys import Identity
from crypto.roster import DAY, Member, Role, sign_roster
from staff.casework import SealedReply, seal_note, seal_reply
from staff.direct import StaffSession
from staff.httpsig import NaclEd25519, key_id, sign_request
from tests.staff.conftest import Site


def assert_refused(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"}, body
    if code is not None:
        assert body["error"] == code, body
    return dict(body)


@pytest.fixture
def unchanged(site: Site) -> Iterator[None]:
    """The test must leave cases, events, outbox and audit exactly as they were."""
    before = site.snapshot()
    yield
    assert site.snapshot() == before


def claim_path(site: Site, label: str = "main") -> str:
    return f"/api/v1/cases/{site.cases[label]}/claim"


# -- 401: who is asking ------------------------------------------------------------------


def test_unsigned_request_is_401(site: Site, unchanged: None) -> None:
    assert_refused(site.send(None, "POST", claim_path(site), json={}), 401, "unsigned")
    assert_refused(site.send(None, "GET", "/api/v1/cases"), 401, "unsigned")


def test_corrupted_signature_is_401(site: Site, unchanged: None) -> None:
    with httpx.Client() as client:
        request = client.build_request("POST", site.url + claim_path(site), content=b"{}")
        sign_request(request, site.identity("cas-main").signing_key, b"{}", now=time.time())
        label, _, value = request.headers["signature"].partition("=:")
        raw = bytearray(base64.b64decode(value.rstrip(":")))
        raw[10] ^= 1
        request.headers["signature"] = f"{label}=:{base64.b64encode(bytes(raw)).decode()}:"
        assert_refused(client.send(request), 401, "signature_invalid")


def test_body_changed_after_signing_is_401(site: Site, unchanged: None) -> None:
    with httpx.Client() as client:
        request = client.build_request("POST", site.url + f"/api/v1/cases/{site.cases['main']}/notes",
                                       content=b'{"envelope": "AAAA"}')
        sign_request(request, site.identity("cas-main").signing_key, b'{"envelope": "AAAA"}', now=time.time())
        tampered = client.build_request("POST", str(request.url), content=b'{"envelope": "AAAB"}',
                                        headers={k: v for k, v in request.headers.items() if k != "content-length"})
        assert_refused(client.send(tampered), 401, "signature_invalid")


def test_request_for_another_path_than_signed_is_401(site: Site, unchanged: None) -> None:
    with httpx.Client() as client:
        signed = client.build_request("GET", site.url + "/api/v1/cases")
        sign_request(signed, site.identity("cas-main").signing_key, b"", now=time.time())
        moved = client.build_request("POST", site.url + claim_path(site), content=b"{}",
                                     headers={k: v for k, v in signed.headers.items()})
        assert_refused(client.send(moved), 401, "signature_invalid")


def test_https_signature_behind_a_tls_proxy_is_accepted_but_another_host_is_not(site: Site) -> None:
    me = site.identity("cas-main")
    with httpx.Client() as client:
        for signed_for, status in [(site.url.replace("http://", "https://"), 200),
                                   (site.url.replace("127.0.0.1", "staff.example.org"), 401)]:
            signed = client.build_request("GET", signed_for + "/api/v1/info")
            sign_request(signed, me.signing_key, b"", now=time.time())
            headers = {k: v for k, v in signed.headers.items() if k != "host"}
            assert client.get(site.url + "/api/v1/info", headers=headers).status_code == status


def test_key_not_on_the_roster_is_401(site: Site, unchanged: None) -> None:
    stranger = Identity.generate("cas-main")
    assert_refused(site.send(stranger, "POST", claim_path(site), json={}), 401, "signature_invalid")


def test_keyid_of_a_member_with_someone_elses_signature_is_401(site: Site, unchanged: None) -> None:
    # Sign with a stranger's key but claim cas-main's keyid: the library resolves cas-main's key and fails.
    stranger = Identity.generate("x")

    class Keys:
        def resolve_private_key(self, _: str) -> Any:
            return stranger.signing_key

    with httpx.Client() as client:
        request = client.build_request("POST", site.url + claim_path(site), content=b"{}")
        HTTPMessageSigner(signature_algorithm=NaclEd25519, key_resolver=Keys()).sign(  # type: ignore[arg-type]
            request, key_id=key_id(site.identity("cas-main").signing_key.verify_key), nonce="n" * 24, label="ws",
            tag="waystation-staff", covered_component_ids=("@method", "@target-uri"), body=b"{}")
        assert_refused(client.send(request), 401, "signature_invalid")


@pytest.mark.parametrize(("nonce", "tag"), [(None, "waystation-staff"), ("short", "waystation-staff"),
                                            ("n" * 24, None), ("n" * 24, "another-app")])
def test_signature_without_a_proper_nonce_or_tag_is_401(site: Site, unchanged: None, nonce: str | None,
                                                        tag: str | None) -> None:
    me = site.identity("cas-main")

    class Keys:
        def resolve_private_key(self, _: str) -> Any:
            return me.signing_key

    with httpx.Client() as client:
        request = client.build_request("POST", site.url + claim_path(site), content=b"{}")
        HTTPMessageSigner(signature_algorithm=NaclEd25519, key_resolver=Keys()).sign(  # type: ignore[arg-type]
            request, key_id=key_id(me.signing_key.verify_key), nonce=nonce, label="ws", tag=tag,
            covered_component_ids=("@method", "@target-uri"), body=b"{}")
        assert_refused(client.send(request), 401, "signature_invalid")


@pytest.mark.parametrize("offset", [-61 - 60, 61 + 60, -3600, 86_400])
def test_created_outside_the_window_is_401(site: Site, unchanged: None, offset: int) -> None:
    assert_refused(site.send("cas-main", "POST", claim_path(site), json={}, offset=offset), 401, "signature_expired")


def test_replayed_nonce_is_401(site: Site) -> None:
    me = site.identity("cas-main")
    case = site.cases["main"]
    with site.open() as server:
        roster = server.roster(int(time.time()))
        case_row = server.cases.fetch(case)
    envelope = seal_note("first", case_row, me, roster, int(time.time()))
    body = json.dumps({"envelope": base64.b64encode(envelope).decode()}).encode()
    with httpx.Client() as client:
        request = client.build_request("POST", site.url + f"/api/v1/cases/{case}/notes", content=body)
        sign_request(request, me.signing_key, body, now=time.time())
        assert client.send(request).status_code == 201
        after_first = site.snapshot()
        again = client.build_request("POST", str(request.url), content=body, headers=dict(request.headers))
        assert_refused(client.send(again), 401, "replayed")
    assert site.snapshot() == after_first


def _resign_roster(site: Site, change: Any) -> None:
    now = int(time.time())
    with site.open() as server:
        roster = change(server.roster(now), now)
        server.save_roster(sign_roster(roster, site.home.admin), now)


def test_revoked_staff_is_401(site: Site) -> None:
    _resign_roster(site, lambda roster, now: roster.with_revoked("cas-main", now, 30))
    before = site.snapshot()
    assert_refused(site.send("cas-main", "POST", claim_path(site), json={}), 401, "not_active")
    assert_refused(site.send("cas-main", "GET", "/api/v1/info"), 401, "not_active")
    assert site.snapshot() == before


def test_expired_member_is_401(site: Site) -> None:
    late = Identity.generate("cas-late")
    now = int(time.time())
    member = Member(late.public, Role.CASEWORKER, ("main",), now - 2 * DAY, now - 10)
    _resign_roster(site, lambda roster, t: roster.with_member(member, t, 30))
    before = site.snapshot()
    assert_refused(site.send(late, "POST", claim_path(site), json={}), 401, "not_active")
    assert_refused(site.send(late, "GET", "/api/v1/cases"), 401, "not_active")
    assert site.snapshot() == before


def test_broken_roster_is_503_for_everyone(site: Site) -> None:
    before = site.snapshot()
    (site.root / "roster.json").write_bytes(b'{"format": "waystation-roster"}')
    assert_refused(site.send("cas-main", "POST", claim_path(site), json={}), 503, "unavailable")
    assert site.snapshot() == before


# -- 403 and 404: what may they see ------------------------------------------------------


def test_volunteer_asking_for_content_or_changes_is_403(site: Site, unchanged: None) -> None:
    case = site.cases["main"]
    assert_refused(site.send("vol", "GET", "/api/v1/cases?envelopes=1"), 403, "forbidden")
    assert_refused(site.send("vol", "GET", f"/api/v1/cases/{case}"), 403, "forbidden")
    for action in ("claim", "close", "reopen"):
        assert_refused(site.send("vol", "POST", f"/api/v1/cases/{case}/{action}", json={}), 403, "forbidden")
    assert_refused(site.send("vol", "POST", f"/api/v1/cases/{case}/notes", json={"envelope": "AAAA"}), 403)
    listed = site.send("vol", "GET", "/api/v1/cases").json()["cases"]
    assert sorted(c["id"] for c in listed) == sorted([site.cases["main"], site.cases["main-2"]])
    assert all("envelope" not in c for c in listed)


def test_admin_reads_info_but_no_case(site: Site, unchanged: None) -> None:
    assert site.send("admin", "GET", "/api/v1/info").json()["me"]["role"] == "admin"
    assert_refused(site.send("admin", "GET", "/api/v1/cases"), 403, "forbidden")
    assert_refused(site.send("admin", "GET", f"/api/v1/cases/{site.cases['main']}"), 403, "forbidden")


def test_caseworker_of_another_queue_sees_nothing_and_gets_the_same_404(site: Site, unchanged: None) -> None:
    listed = site.send("cas-other", "GET", "/api/v1/cases?envelopes=1").json()["cases"]
    assert [c["id"] for c in listed] == [site.cases["other"]]
    assert_refused(site.send("cas-other", "GET", "/api/v1/cases?queue=main"), 403, "forbidden")
    hidden, missing = site.cases["main"], "zzzzzzzzzzzzzzzz"
    for case in (hidden, missing):
        answers = [
            site.send("cas-other", "GET", f"/api/v1/cases/{case}"),
            site.send("cas-other", "POST", f"/api/v1/cases/{case}/claim", json={}),
            site.send("cas-other", "POST", f"/api/v1/cases/{case}/notes", json={"envelope": "AAAA"}),
            site.send("cas-other", "POST", f"/api/v1/cases/{case}/replies",
                      json={"to_bot": "A", "to_person": "B", "copy": "C"}),
            site.send("cas-other", "POST", f"/api/v1/cases/{case}/close", json={}),
        ]
        assert [(a.status_code, a.json()) for a in answers] == [
            (404, {"error": "not_found", "message": "no such case in your queues"})] * len(answers)


# -- 409: the case's state ---------------------------------------------------------------


def test_claim_close_reopen_in_the_wrong_state_is_409(site: Site) -> None:
    case = site.cases["main"]
    assert site.send("cas-main", "POST", f"/api/v1/cases/{case}/claim", json={}).status_code == 200
    before = site.snapshot()
    assert_refused(site.send("cas-main", "POST", f"/api/v1/cases/{case}/claim", json={}), 409, "conflict")
    assert_refused(site.send("cas-main", "POST", f"/api/v1/cases/{case}/reopen"), 409, "conflict")
    assert site.snapshot() == before
    assert site.send("cas-main", "POST", f"/api/v1/cases/{case}/close").status_code == 200
    before = site.snapshot()
    assert_refused(site.send("cas-main", "POST", f"/api/v1/cases/{case}/close", json={}), 409, "conflict")
    with site.open() as server:
        row, roster, bot = server.cases.fetch(case), server.roster(int(time.time())), server.bot_identity()
    sealed = seal_reply("hello", _request(site), row, site.identity("cas-main"), roster, bot.box_private.public_key,
                        int(time.time()))
    answer = site.send("cas-main", "POST", f"/api/v1/cases/{case}/replies",
                       json={"to_bot": _b64(sealed.to_bot), "to_person": _b64(sealed.to_person),
                             "copy": _b64(sealed.copy)})
    assert_refused(answer, 409, "conflict")
    assert site.snapshot() == before


def test_double_claim_from_two_clients_at_once_has_exactly_one_winner(site: Site) -> None:
    case = site.cases["main"]
    barrier = threading.Barrier(2)
    answers: dict[str, int] = {}

    def claim(name: str) -> None:
        barrier.wait()
        answers[name] = site.send(name, "POST", f"/api/v1/cases/{case}/claim", json={}).status_code

    threads = [threading.Thread(target=claim, args=(n,)) for n in ("cas-main", "cas-main-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(answers.values()) == [200, 409]
    winner = next(n for n, s in answers.items() if s == 200)
    with site.open() as server:
        assert server.cases.fetch(case).claimed_by == winner
        assert [(a.actor, a.action) for a in server.cases.audit_log(case)][1:] == [(winner, "case.claim")]


# -- 413 and 422: what they sent -----------------------------------------------------------


def test_oversize_body_is_413(site: Site, unchanged: None) -> None:
    path = f"/api/v1/cases/{site.cases['main']}/notes"
    big = json.dumps({"envelope": "A" * (300 * 1024)}).encode()
    assert_refused(site.send("cas-main", "POST", path, body=big), 413, "too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while streaming too
        for _ in range(300):
            yield b"A" * 1024

    with httpx.Client() as client:
        streamed = client.build_request("POST", site.url + path, content=chunks())
        sign_request(streamed, site.identity("cas-main").signing_key, b"A" * 300 * 1024, now=time.time())
        assert "content-length" not in streamed.headers
        assert_refused(client.send(streamed), 413, "too_large")
        # Unsigned, it is refused before a byte of the body is read.
        assert_refused(client.post(site.url + path, content=chunks()), 401, "unsigned")


def _bot(site: Site) -> Identity:
    with site.open() as server:
        return server.bot_identity()


def _note_body(site: Site, **changes: Any) -> bytes:
    """A note envelope for case 'main' by cas-main, sealed with `changes` to the seal() arguments."""
    now = int(time.time())
    with site.open() as server:
        roster = server.roster(now)
        case = server.cases.fetch(site.cases["main"])
    arguments: dict[str, Any] = {
        "kind": Kind.NOTE, "case_id": case.id, "queue": case.queue, "signer": site.identity("cas-main").signing_key,
        "recipients": [m.identity.box_key for m in roster.caseworkers_for("main", now)],
    }
    arguments.update(changes)
    envelope = seal(b'{"v":1,"text":"x"}', **arguments)
    return json.dumps({"envelope": base64.b64encode(envelope).decode()}).encode()


MALFORMED: dict[str, Any] = {
    "not JSON": lambda site: b"{not json",
    "not UTF-8": lambda site: b'{"envelope": "\xff"}',
    "JSON array": lambda site: b"[]",
    "missing field": lambda site: b"{}",
    "extra field": lambda site: json.dumps({"envelope": "AAAA", "text": "x"}).encode(),
    "duplicate field": lambda site: b'{"envelope": "AAAA", "envelope": "AAAA"}',
    "NaN": lambda site: b'{"envelope": NaN}',
    "number instead of base64": lambda site: b'{"envelope": 12}',
    "not base64": lambda site: b'{"envelope": "not base64!"}',
    "non-canonical base64": lambda site: b'{"envelope": "AAB="}',
    "not an envelope": lambda site: b'{"envelope": "AAAA"}',
    "wrong kind": lambda site: _note_body(site, kind=Kind.REQUEST),
    "bound to another case": lambda site: _note_body(site, case_id=site.cases["main-2"]),
    "bound to another queue": lambda site: _note_body(site, queue="other"),
    "signed by a colleague": lambda site: _note_body(site, signer=site.identity("cas-main-2").signing_key),
    "signed by the bot": lambda site: _note_body(site, signer=_bot(site).signing_key),
    "one caseworker missing": lambda site: _note_body(
        site, recipients=[site.identity("cas-main").box_private.public_key]),
    "an outsider added": lambda site: _note_body(site, recipients=[
        site.identity(n).box_private.public_key for n in ("cas-main", "cas-main-2", "cas-other")]),
}


@pytest.mark.parametrize("label", sorted(MALFORMED))
def test_malformed_note_is_422(site: Site, label: str) -> None:
    body = MALFORMED[label](site)
    before = site.snapshot()
    answer = site.send("cas-main", "POST", f"/api/v1/cases/{site.cases['main']}/notes", body=body)
    assert_refused(answer, 422)
    assert site.snapshot() == before


def _request(site: Site, label: str = "main") -> dict[str, Any]:
    """The decrypted request of a seeded case, as the caseworker's client sees it."""
    now = int(time.time())
    with site.open() as server:
        view = StaffSession.start(server, site.identity("cas-main"), now).read(server.cases.fetch(site.cases[label]))
    assert view.request is not None
    return view.request


def _sealed_reply(site: Site) -> SealedReply:
    now = int(time.time())
    with site.open() as server:
        roster, case = server.roster(now), server.cases.fetch(site.cases["main"])
        bot = server.bot_identity().box_private.public_key
    return seal_reply("hello", _request(site), case, site.identity("cas-main"), roster, bot, now)


def _b64(envelope: bytes) -> str:
    return base64.b64encode(envelope).decode()


def _reply_body(site: Site, **parts: bytes) -> bytes:
    """A reply body for case 'main' by cas-main, with some of its three envelopes replaced."""
    sealed = _sealed_reply(site)
    envelopes = {"to_bot": sealed.to_bot, "to_person": sealed.to_person, "copy": sealed.copy, **parts}
    return json.dumps({name: _b64(envelope) for name, envelope in envelopes.items()}).encode()


def _envelope(site: Site, kind: Kind, **changes: Any) -> bytes:
    """An envelope for case 'main' signed by cas-main (to the person's reply key unless told otherwise)."""
    request = _request(site)
    with site.open() as server:
        case = server.cases.fetch(site.cases["main"])
    arguments: dict[str, Any] = {
        "kind": kind, "case_id": case.id, "queue": case.queue, "signer": site.identity("cas-main").signing_key,
        "recipients": [PublicKey(base64.b64decode(request["reply_key"]))],
    }
    arguments.update(changes)
    return seal(b'{"v":1,"text":"x"}', **arguments)


def _flipped(envelope: bytes) -> bytes:
    changed = bytearray(envelope)
    changed[len(changed) // 2] ^= 1
    return bytes(changed)


def _staff_key(site: Site, name: str) -> PublicKey:
    return site.identity(name).box_private.public_key


BAD_REPLIES: dict[str, Any] = {
    "the old body without to_person": lambda site: json.dumps(
        {k: v for k, v in json.loads(_reply_body(site)).items() if k != "to_person"}).encode(),
    "an old to_bot holding the text (kind 4 to the bot)": lambda site: _reply_body(
        site, to_bot=_envelope(site, Kind.REPLY, recipients=[_bot(site).box_private.public_key])),
    "to_bot and to_person swapped": lambda site: json.dumps(
        {**json.loads(_reply_body(site)), "to_bot": json.loads(_reply_body(site))["to_person"],
         "to_person": json.loads(_reply_body(site))["to_bot"]}).encode(),
    "copy sealed to the bot": lambda site: _reply_body(site, copy=_sealed_reply(site).to_bot),
    "note instead of reply": lambda site: _reply_body(site, to_person=_envelope(site, Kind.NOTE)),
    "to_person tampered": lambda site: _reply_body(site, to_person=_flipped(_sealed_reply(site).to_person)),
    "to_bot tampered": lambda site: _reply_body(site, to_bot=_flipped(_sealed_reply(site).to_bot)),
    "copy tampered": lambda site: _reply_body(site, copy=_flipped(_sealed_reply(site).copy)),
    "to_person signed by a colleague": lambda site: _reply_body(
        site, to_person=_envelope(site, Kind.REPLY, signer=site.identity("cas-main-2").signing_key)),
    "to_bot signed by a colleague": lambda site: _reply_body(site, to_bot=_envelope(
        site, Kind.DELIVERY, signer=site.identity("cas-main-2").signing_key,
        recipients=[_bot(site).box_private.public_key])),
    "to_person bound to another case": lambda site: _reply_body(
        site, to_person=_envelope(site, Kind.REPLY, case_id=site.cases["main-2"])),
    "to_bot bound to another case": lambda site: _reply_body(site, to_bot=_envelope(
        site, Kind.DELIVERY, case_id=site.cases["main-2"], recipients=[_bot(site).box_private.public_key])),
    "to_person bound to another queue": lambda site: _reply_body(
        site, to_person=_envelope(site, Kind.REPLY, queue="other")),
    "to_person sealed to a caseworker": lambda site: _reply_body(
        site, to_person=_envelope(site, Kind.REPLY, recipients=[_staff_key(site, "cas-other")])),
    "to_person sealed to the bot": lambda site: _reply_body(
        site, to_person=_envelope(site, Kind.REPLY, recipients=[_bot(site).box_private.public_key])),
    "to_person sealed to two keys": lambda site: _reply_body(site, to_person=_envelope(
        site, Kind.REPLY, recipients=[PublicKey(base64.b64decode(_request(site)["reply_key"])),
                                      PrivateKey.generate().public_key])),
    "to_bot sealed to the bot and a caseworker": lambda site: _reply_body(site, to_bot=_envelope(
        site, Kind.DELIVERY, recipients=[_bot(site).box_private.public_key, _staff_key(site, "cas-main")])),
    "one field": lambda site: json.dumps({"to_bot": json.loads(_reply_body(site))["to_bot"]}).encode(),
}


@pytest.mark.parametrize("label", sorted(BAD_REPLIES))
def test_malformed_reply_is_422(site: Site, label: str) -> None:
    body = BAD_REPLIES[label](site)
    before = site.snapshot()
    answer = site.send("cas-main", "POST", f"/api/v1/cases/{site.cases['main']}/replies", body=body)
    assert_refused(answer, 422)
    assert site.snapshot() == before


def test_well_formed_reply_is_taken(site: Site) -> None:
    """The baseline of the refusals above: the unchanged body is accepted."""
    answer = site.send("cas-main", "POST", f"/api/v1/cases/{site.cases['main']}/replies", body=_reply_body(site))
    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize("body", [b"[]", b'{"force": true}', b"nope", b"null"])
def test_malformed_claim_body_is_422(site: Site, unchanged: None, body: bytes) -> None:
    assert_refused(site.send("cas-main", "POST", claim_path(site), body=body), 422, "invalid_body")


@pytest.mark.parametrize("query", ["status=open", "status=new,,claimed", "envelopes=2", "queue=Main%20Queue"])
def test_malformed_list_query_is_422(site: Site, unchanged: None, query: str) -> None:
    assert_refused(site.send("cas-main", "GET", f"/api/v1/cases?{query}"), 422, "invalid_body")
