"""Grants through the real staff API: a newcomer reads the queue's open cases after one `staff grant`.

And every bad path: the server refuses a grant to a revoked member, for another case's envelope, or
signed by someone else; the client refuses (and never uses) grants the server (or anyone who can write
its database) plants: a bad signature, a signer not on the roster, a grant replayed onto another case or
envelope, a signer from another queue, a signer revoked since.
"""

from __future__ import annotations

import base64
import json
import time

from crypto.envelope import Kind, recover_content_key
from crypto.grant import envelope_digest, make_grant
from crypto.keys import KDF_MINIMUM, Identity, dump_identity
from crypto.roster import DAY, Member, Role, sign_roster
from intake.followups import add_follow_up
from storage.grants import sealed_envelopes
from tests.cli.runner import PASSPHRASE, Result, assert_user_error, ok, run
from tests.staff.conftest import REQUEST_CANARY, Site, reference_hash
from tests.staff.test_api_refusals import assert_refused


def staff(site: Site, who: str, *args: str) -> Result:
    """`waystation staff --server URL --key WHO.key ARGS`, with pins under tmp/config; must not crash."""
    ran = run("staff", "--server", site.url, "--key", site.key_files[who], *args,
              env={"WAYSTATION_CONFIG_DIR": str(site.tmp / "config")})
    assert "Traceback" not in ran.stderr, str(ran)
    return ran


def staff_ok(site: Site, who: str, *args: str) -> Result:
    ran = staff(site, who, *args)
    assert ran.returncode == 0, str(ran)
    return ran


def _resign(site: Site, change: object) -> None:
    now = int(time.time())
    with site.open() as server:
        server.save_roster(sign_roster(change(server.roster(now), now), site.home.admin), now)  # type: ignore[operator]


def join(site: Site, name: str, queue: str = "main") -> Identity:
    """A caseworker added to `queue` after its cases arrived, with a key file."""
    identity = Identity.generate(name)
    now = int(time.time())
    _resign(site, lambda roster, t: roster.with_member(
        Member(identity.public, Role.CASEWORKER, (queue,), now - 60, now + 365 * DAY), t, 30))
    site.home.staff[name] = identity
    path = site.tmp / "keys" / f"{name}.key"
    path.write_bytes(dump_identity(identity, PASSPHRASE.encode(), KDF_MINIMUM))
    site.key_files[name] = path
    return identity


def _listed(site: Site, who: str) -> dict[str, dict[str, object]]:
    return {c["id"]: c for c in json.loads(staff_ok(site, who, "list", "--json").stdout)}


def _shown(site: Site, who: str, case: str) -> dict[str, object]:
    return json.loads(staff_ok(site, who, "show", "--json", case).stdout)  # type: ignore[no-any-return]


def _history(site: Site) -> None:
    """A note and a follow-up on 'main' before the newcomer joins."""
    assert "added to" in staff(site, "cas-main", "note", site.cases["main"], "note-canary-Gr11").stdout
    with site.open() as server:
        add_follow_up(server, reference_hash(site, "main"), "follow-up-canary-Gr12", "ru", int(time.time()))


def _grant_rows(site: Site) -> list[tuple[object, ...]]:
    with site.open() as server:
        return server.db.conn.execute("SELECT id, case_id, created_at FROM case_grants").fetchall()


def test_a_newcomer_reads_every_open_case_after_one_grant(site: Site) -> None:
    _history(site)
    join(site, "cas-new")
    main, main2 = site.cases["main"], site.cases["main-2"]
    before = _listed(site, "cas-new")
    assert {before[c]["readable"] for c in (main, main2)} == {"not-for-this-key"}

    granted = staff_ok(site, "cas-main", "grant", "--to", "cas-new")
    assert "granted 2 open cases to cas-new" in granted.stdout

    after = _listed(site, "cas-new")
    assert after[main]["readable"] == "ok" and after[main2]["readable"] == "ok"
    assert after[main]["request"]["answers"]["story"] == REQUEST_CANARY  # type: ignore[index]
    shown = _shown(site, "cas-new", main)
    texts = [(e["kind"], e["readable"], e["text"]) for e in shown["events"]]  # type: ignore[attr-defined]
    assert ("note", "ok", "note-canary-Gr11") in texts and ("follow_up", "ok", "follow-up-canary-Gr12") in texts
    # The newcomer's own work is sealed to the queue as usual, and the same show works in direct mode.
    assert "added to" in staff(site, "cas-new", "note", main, "newcomer's note").stdout
    direct = json.loads(ok("staff", "--home", site.root, "--key", site.key_files["cas-new"], "show", "--json",
                           main).stdout)
    assert direct["readable"] == "ok" and direct["request"] == shown["request"]
    # The granted request can be answered, remotely and directly (the reply key is inside it).
    assert "queued for the bot" in staff_ok(site, "cas-new", "reply", main, "We read you.").stdout
    assert "queued for the bot" in ok("staff", "--home", site.root, "--key", site.key_files["cas-new"], "reply",
                                      main, "Again.").stdout

    # Stored: one grant per case, coarse times, random ids, audited; running it again replaces, not adds.
    rows = _grant_rows(site)
    assert sorted(r[1] for r in rows) == sorted([main, main2])
    with site.open() as server:
        granularity = server.config.privacy.time_granularity_seconds
        assert [a.action for a in server.cases.audit_log(main)].count("case.grant") == 1
    assert all(int(r[2]) % granularity == 0 for r in rows)  # type: ignore[call-overload]
    assert "granted 2 open cases" in staff(site, "cas-main", "grant", "--to", "cas-new", "--queue", "main").stdout
    assert len(_grant_rows(site)) == 2


def test_direct_mode_grant_is_the_same_grant(site: Site) -> None:
    join(site, "cas-new")
    done = ok("staff", "--home", site.root, "--key", site.key_files["cas-main-2"], "grant", "--to", "cas-new")
    assert "granted 2 open cases to cas-new" in done.stdout
    assert {c["readable"] for c in _listed(site, "cas-new").values()} == {"ok"}


def test_grant_refusals_by_the_client(site: Site) -> None:
    join(site, "cas-new")
    staff_ok(site, "cas-main", "list")  # first contact: pins (and says so on stderr)
    assert_user_error(staff(site, "cas-main", "grant", "--to", "nobody"), "no member called")
    assert_user_error(staff(site, "cas-main", "grant", "--to", "cas-other"), "share no queue")
    assert_user_error(staff(site, "cas-main", "grant", "--to", "cas-new", "--queue", "other"), "not a queue of both")
    assert_user_error(staff(site, "cas-main", "grant", "--to", "vol"), "not a caseworker")
    _resign(site, lambda roster, t: roster.with_revoked("cas-new", t, 30))
    assert_user_error(staff(site, "cas-main", "grant", "--to", "cas-new"), "revoked member gets no new grants")
    assert _grant_rows(site) == []


# -- what the server refuses -----------------------------------------------------------------


def _grant_body(site: Site, signer: str, to: Identity, case_label: str = "main", *,
                envelope_of: str | None = None) -> dict[str, str]:
    """A grant by `signer` (who can read it) of a seeded case's request to `to`, base64 in a body."""
    case_id = site.cases[case_label]
    with site.open() as server:
        case = server.cases.fetch(site.cases[envelope_of or case_label])
        bot_keys = server.trusted_bot_keys()
    me = site.identity(signer)
    key = recover_content_key(case.envelope or b"", recipient=me.box_private, trusted_signers=bot_keys,
                              case_id=case.id, queue=case.queue, kinds={Kind.REQUEST})
    grant = make_grant({envelope_digest(case.envelope or b""): key}, case_id=case_id, queue="main",
                       recipient=to.box_private.public_key, granter=me.box_private.public_key,
                       signer=me.signing_key, at=int(time.time()))
    return {"grant": base64.b64encode(grant).decode("ascii")}


def test_the_server_refuses_a_grant_to_a_revoked_member(site: Site) -> None:
    newcomer = join(site, "cas-new")
    body = _grant_body(site, "cas-main", newcomer)
    _resign(site, lambda roster, t: roster.with_revoked("cas-new", t, 30))
    path = f"/api/v1/cases/{site.cases['main']}/grants"
    refused = assert_refused(site.send("cas-main", "POST", path, json=body), 422, "grant_refused")
    assert "not an active caseworker" in refused["message"]
    assert _grant_rows(site) == []


def test_the_server_refuses_a_grant_for_another_cases_envelope_or_signed_by_someone_else(site: Site) -> None:
    newcomer = join(site, "cas-new")
    path = f"/api/v1/cases/{site.cases['main']}/grants"
    # main-2's request, in a grant bound to 'main': names an envelope that is not main's.
    other_envelope = _grant_body(site, "cas-main", newcomer, envelope_of="main-2")
    assert "not one of this case's" in assert_refused(site.send("cas-main", "POST", path, json=other_envelope),
                                                      422, "grant_refused")["message"]
    # A valid grant by cas-main-2, submitted by cas-main: the signer must be the caller.
    by_colleague = _grant_body(site, "cas-main-2", newcomer)
    assert_refused(site.send("cas-main", "POST", path, json=by_colleague), 422, "grant_refused")
    # Posted to main-2's path: bound to another case.
    assert_refused(site.send("cas-main", "POST", f"/api/v1/cases/{site.cases['main-2']}/grants",
                             json=_grant_body(site, "cas-main", newcomer)), 422, "grant_refused")
    # Another queue's caseworker cannot even see the case; a volunteer may not grant.
    assert_refused(site.send("cas-other", "POST", path, json=_grant_body(site, "cas-main", newcomer)), 404,
                   "not_found")
    assert_refused(site.send("vol", "POST", path, json=_grant_body(site, "cas-main", newcomer)), 403, "forbidden")
    assert_refused(site.send("cas-main", "POST", path, json={"grant": "AAAA"}), 422, "grant_refused")
    assert _grant_rows(site) == []
    # The good one is stored, and only its recipient gets it back.
    assert site.send("cas-main", "POST", path, json=_grant_body(site, "cas-main", newcomer)).status_code == 201
    assert len(site.send("cas-new", "GET", path).json()["grants"]) == 1
    assert site.send("cas-main-2", "GET", path).json()["grants"] == []
    assert len(site.send("cas-new", "GET", "/api/v1/grants").json()["grants"]) == 1
    assert_refused(site.send("cas-other", "GET", path), 404, "not_found")


# -- what the client refuses: grants planted in the database ------------------------------


def _plant(site: Site, case_label: str, recipient: Identity, grant: bytes, signer: bytes) -> None:
    with site.open() as server, server.db.transaction() as conn:
        conn.execute("INSERT INTO case_grants (id, case_id, recipient, granter, created_at, body)"
                     " VALUES (random_row_id(), ?, ?, ?, 0, ?)",
                     (site.cases[case_label], bytes(recipient.public.key_id), signer, grant))


def _request_grant(site: Site, granter: Identity, to: Identity, label: str = "main", *, bound_to: str | None = None,
                   reader: Identity | None = None) -> bytes:
    """A grant signed by `granter` of a case's request key (read by `reader`, default the granter)."""
    with site.open() as server:
        case = server.cases.fetch(site.cases[label])
        bot_keys = server.trusted_bot_keys()
    envelope = case.envelope or b""
    key = recover_content_key(envelope, recipient=(reader or granter).box_private, trusted_signers=bot_keys,
                              case_id=case.id, queue=case.queue, kinds={Kind.REQUEST})
    return make_grant({envelope_digest(envelope): key}, case_id=site.cases[bound_to or label], queue=case.queue,
                      recipient=to.box_private.public_key, granter=granter.box_private.public_key,
                      signer=granter.signing_key, at=int(time.time()))


def _state(site: Site, who: str, label: str = "main") -> tuple[str, str]:
    shown = _listed(site, who)[site.cases[label]]
    return str(shown["readable"]), str(shown["problem"])


def test_a_forged_grant_is_refused(site: Site) -> None:
    newcomer = join(site, "cas-new")
    grant = bytearray(_request_grant(site, site.identity("cas-main"), newcomer))
    grant[-70] ^= 0x01
    _plant(site, "main", newcomer, bytes(grant), bytes(site.identity("cas-main").signing_key.verify_key))
    readable, problem = _state(site, "cas-new")
    assert readable == "not-for-this-key" and "GrantSignatureInvalid" in problem


def test_a_grant_by_someone_not_on_the_roster_is_refused(site: Site) -> None:
    """A stranger who somehow learnt the content key (or the server itself) cannot make a grant that counts."""
    newcomer = join(site, "cas-new")
    stranger = Identity.generate("stranger")
    grant = _request_grant(site, stranger, newcomer, reader=site.identity("cas-main"))
    _plant(site, "main", newcomer, grant, bytes(stranger.signing_key.verify_key))
    readable, problem = _state(site, "cas-new")
    assert readable == "not-for-this-key" and "GrantSignerUntrusted" in problem


def test_a_grant_replayed_onto_another_case_or_envelope_is_refused(site: Site) -> None:
    newcomer = join(site, "cas-new")
    cas_main = site.identity("cas-main")
    grant = _request_grant(site, cas_main, newcomer, "main")
    _plant(site, "main-2", newcomer, grant, b"replayed")  # main's grant offered as main-2's
    readable, problem = _state(site, "cas-new", "main-2")
    assert readable == "not-for-this-key" and "GrantBindingMismatched" in problem and "another case" in problem
    # A grant bound to main but carrying main-2's request key covers no envelope of main.
    _plant(site, "main", newcomer, _request_grant(site, cas_main, newcomer, "main-2", bound_to="main"), b"other")
    readable, problem = _state(site, "cas-new", "main")
    assert readable == "not-for-this-key" and "does not cover this envelope" in problem


def test_a_cross_queue_grant_is_refused(site: Site) -> None:
    """cas-other (queue 'other' only) signs a grant for a 'main' case: not a granter of that queue."""
    newcomer = join(site, "cas-new")
    grant = _request_grant(site, site.identity("cas-other"), newcomer, reader=site.identity("cas-main"))
    _plant(site, "main", newcomer, grant, bytes(site.identity("cas-other").signing_key.verify_key))
    readable, problem = _state(site, "cas-new")
    assert readable == "not-for-this-key" and "GrantSignerUntrusted" in problem


def test_a_revoked_signers_grants_stop_counting_until_a_colleague_grants_again(site: Site) -> None:
    join(site, "cas-new")
    assert "granted 2" in staff(site, "cas-main", "grant", "--to", "cas-new").stdout
    assert _state(site, "cas-new")[0] == "ok"
    _resign(site, lambda roster, t: roster.with_revoked("cas-main", t, 30))
    readable, problem = _state(site, "cas-new")
    assert readable == "not-for-this-key" and "GrantSignerUntrusted" in problem
    assert "granted 2" in staff(site, "cas-main-2", "grant", "--to", "cas-new").stdout
    assert {c["readable"] for c in _listed(site, "cas-new").values()} == {"ok"}


def test_a_stored_grant_holds_no_content_key_in_the_clear(site: Site) -> None:
    """What the server keeps is sealed to the recipient: the content keys never appear in its bytes."""
    newcomer = join(site, "cas-new")
    staff_ok(site, "cas-main", "grant", "--to", "cas-new")
    cas_main = site.identity("cas-main")
    with site.open() as server:
        rows = server.db.conn.execute("SELECT case_id, recipient, body FROM case_grants").fetchall()
        bot_keys = server.trusted_bot_keys()
        cases = {r[0]: server.cases.fetch(str(r[0])) for r in rows}
    assert len(rows) == 2
    for case_id, recipient, body in rows:
        case = cases[case_id]
        key = recover_content_key(case.envelope or b"", recipient=cas_main.box_private, trusted_signers=bot_keys,
                                  case_id=case.id, queue=case.queue, kinds={Kind.REQUEST})
        assert key not in bytes(body) and bytes(recipient) == bytes(newcomer.public.key_id)
        assert sealed_envelopes(case, []) and envelope_digest(case.envelope or b"") in bytes(body)
