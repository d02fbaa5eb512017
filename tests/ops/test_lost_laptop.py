""""A laptop is lost" and "A caseworker joins" (docs/operations.md), through the real CLI.

The first test: a queue whose cases were sealed to the lost key alone. revoke -> doctor lists the
open cases nobody active can read and the claimed cases left without an owner -> a colleague takes
the claimed one over -> who can still read what: only a follow-up from the person, sealed to
today's caseworkers; nobody is left who could grant the request, and doctor keeps listing it.

The second: the documented procedure where a colleague can still read the cases. revoke the lost
key -> enrol the replacement key -> a colleague runs `staff grant` -> the replacement takes the
claimed case over -> every open case is readable by an active key again and doctor's coverage check
passes. Before that, a newcomer joins a queue, is granted its cases and grants them to herself, so
her access outlives her colleague's revocation.
"""

from __future__ import annotations

import json
import time

from crypto.keys import KDF_MINIMUM, Identity, dump_identity, dump_public
from crypto.reference import REFERENCE_COST_MINIMUM
from intake.followups import add_follow_up
from intake.requests import (
    Request,
    new_ticket,
    recipients_for,
    seal_request,
    store_sealed,
)
from tests.ops.conftest import (
    PASSPHRASE,
    TOKEN,
    OpsHome,
    ok,
    refused,
    waystation,
    with_passphrase,
)

TOKEN_ENV = {"WAYSTATION_BOT_TOKEN": TOKEN}


def _doctor(ops_home: OpsHome) -> list[dict[str, str]]:
    ran = waystation("doctor", "--home", ops_home.root, "--json", "--no-network", env=TOKEN_ENV)
    return json.loads(ran.out)["findings"]  # type: ignore[no-any-return]


def _coverage(findings: list[dict[str, str]], level: str, words: str) -> list[dict[str, str]]:
    return [f for f in findings if f["check"] == "coverage" and f["level"] == level and words in f["problem"]]


def _staff(ops_home: OpsHome, who: str, *args: str) -> str:
    return ok("staff", "--home", ops_home.root, "--key", ops_home.key(who), *args, env=with_passphrase()).out


def test_a_lost_laptop_revoke_doctor_take_over_and_who_reads_what(ops_home: OpsHome) -> None:
    now = int(time.time())
    tickets = {}
    with ops_home.staffed.open() as server:
        for label, queue in (("other-1", "other"), ("other-2", "other"), ("main", "main")):
            ticket = new_ticket(server.pepper(), reply_key=False, cost=REFERENCE_COST_MINIMUM)
            store_sealed(server, seal_request(Request({"help": label}), queue=queue, ticket=ticket,
                                              recipients=recipients_for(server, queue, now),
                                              bot=server.bot_identity(), pepper=server.pepper(), now=now), now)
            tickets[label] = ticket
    lost, kept = tickets["other-1"].case_id, tickets["other-2"].case_id
    _staff(ops_home, "cas-other", "claim", lost)
    assert not _coverage(_doctor(ops_home), "error", "cannot be read")

    # A colleague for 'other' joins (compared fingerprint), then cas-other's laptop is lost.
    bea = Identity.generate("Bea Other")
    (ops_home.keys / "bea.key").write_bytes(dump_identity(bea, PASSPHRASE.encode(), KDF_MINIMUM))
    (ops_home.keys / "bea.key.pub").write_bytes(dump_public(bea.public))
    ok("roster", "add", "--home", ops_home.root, "--admin", ops_home.key("admin"), "--role", "caseworker",
       "--queue", "other", ops_home.keys / "bea.key.pub", env=with_passphrase())
    ok("roster", "revoke", "--home", ops_home.root, "--admin", ops_home.key("admin"), "cas-other",
       env=with_passphrase())

    findings = _doctor(ops_home)
    unreadable = _coverage(findings, "error", "cannot be read by any active caseworker")
    assert len(unreadable) == 1, findings
    problem = unreadable[0]["problem"]
    assert problem.startswith("2 open cases") and lost[:6] in problem and kept[:6] in problem
    assert "sealed to cas-other" in problem and tickets["main"].case_id[:6] not in problem
    orphaned = _coverage(findings, "warning", "claimed cases belong to someone no longer")
    assert len(orphaned) == 1 and f"{lost[:6]} (cas-other)" in orphaned[0]["problem"]
    assert "staff take-over" in orphaned[0]["fix"]
    assert "help" not in json.dumps(findings)  # metadata only: no answer, no reference

    # The revoked key reads nothing more here; Bea takes the claimed case over.
    refused("staff", "--home", ops_home.root, "--key", ops_home.key("cas-other"), "list", env=with_passphrase())
    assert f"took over {lost} (now claimed)" in _staff(ops_home, "bea", "take-over", lost)
    findings = _doctor(ops_home)
    assert not _coverage(findings, "warning", "claimed cases belong to someone no longer")
    assert _coverage(findings, "error", "cannot be read")  # still: re-sealing needs grants

    # Who can still read what: Bea owns the case but its request was never sealed to her key ...
    shown = json.loads(_staff(ops_home, "bea", "show", "--json", lost))
    assert shown["claimed_by"] == "Bea Other" and shown["readable"] == "not-for-this-key"
    # ... a follow-up from the person is sealed to today's caseworkers, so Bea reads that ...
    with ops_home.staffed.open() as server:
        assert add_follow_up(server, tickets["other-1"].ref_hash, "still here", "en", int(time.time())) == lost
    events = json.loads(_staff(ops_home, "bea", "show", "--json", lost))["events"]
    assert [(e["kind"], e["readable"], e["text"]) for e in events][-1] == ("follow_up", "ok", "still here")
    # ... and the main queue was never affected.
    assert json.loads(_staff(ops_home, "cas-main", "show", "--json", tickets["main"].case_id))["readable"] == "ok"


def _new_key(ops_home: OpsHome, label: str, name: str) -> None:
    identity = Identity.generate(name)
    (ops_home.keys / f"{label}.key").write_bytes(dump_identity(identity, PASSPHRASE.encode(), KDF_MINIMUM))
    (ops_home.keys / f"{label}.key.pub").write_bytes(dump_public(identity.public))


def _readable(ops_home: OpsHome, who: str) -> dict[str, str]:
    return {c["id"]: c["readable"] for c in json.loads(_staff(ops_home, who, "list", "--json"))}


def _add(ops_home: OpsHome, label: str, queue: str) -> None:
    ok("roster", "add", "--home", ops_home.root, "--admin", ops_home.key("admin"), "--role", "caseworker",
       "--queue", queue, ops_home.keys / f"{label}.key.pub", env=with_passphrase())


def _revoke(ops_home: OpsHome, name: str) -> None:
    ok("roster", "revoke", "--home", ops_home.root, "--admin", ops_home.key("admin"), name, env=with_passphrase())


def test_a_lost_laptop_ends_with_every_open_case_readable_again(ops_home: OpsHome) -> None:
    now = int(time.time())
    cases: dict[str, str] = {}
    with ops_home.staffed.open() as server:
        for label, queue in (("main-a", "main"), ("main-b", "main"), ("other", "other")):
            ticket = new_ticket(server.pepper(), reply_key=False, cost=REFERENCE_COST_MINIMUM)
            store_sealed(server, seal_request(Request({"help": label}), queue=queue, ticket=ticket,
                                              recipients=recipients_for(server, queue, now),
                                              bot=server.bot_identity(), pepper=server.pepper(), now=now), now)
            cases[label] = ticket.case_id
    _staff(ops_home, "cas-main", "claim", cases["main-a"])
    _staff(ops_home, "cas-main", "note", cases["main-a"], "called back")

    # A caseworker joins 'other' after its case arrived: a colleague grants her the open cases, and she
    # grants them to herself, so that her access does not depend on the colleague's key.
    _new_key(ops_home, "bea", "Bea Other")
    _add(ops_home, "bea", "other")
    assert _readable(ops_home, "bea")[cases["other"]] == "not-for-this-key"
    assert "granted 1 open cases to Bea Other" in _staff(ops_home, "cas-other", "grant", "--to", "Bea Other")
    assert _readable(ops_home, "bea")[cases["other"]] == "ok"
    assert "granted 1 open cases to Bea Other" in _staff(ops_home, "bea", "grant", "--to", "Bea Other")
    _revoke(ops_home, "cas-other")  # "A caseworker leaves": her grant to Bea stops counting, Bea's own does not
    assert _readable(ops_home, "bea")[cases["other"]] == "ok"
    assert not _coverage(_doctor(ops_home), "error", "cannot be read")  # doctor counts Bea's grant

    # cas-main's laptop is lost. 1. revoke. 2. doctor: the claimed case has no owner; main is thin.
    _revoke(ops_home, "cas-main")
    findings = _doctor(ops_home)
    assert not _coverage(findings, "error", "cannot be read")  # cas-main-2 still reads main's cases
    assert _coverage(findings, "warning", "claimed cases belong to someone no longer")
    assert _coverage(findings, "warning", "queue 'main' has fewer than two active caseworkers")
    # 4. The replacement key, enrolled under a new name, reads nothing old yet ...
    _new_key(ops_home, "cas-main-new", "cas-main (2026)")
    _add(ops_home, "cas-main-new", "main")
    assert set(_readable(ops_home, "cas-main-new").values()) == {"not-for-this-key"}
    # 5. ... until a colleague who reads them runs one grant; 3. the replacement takes the claimed case over.
    granted = _staff(ops_home, "cas-main-2", "grant", "--to", "cas-main (2026)")
    assert "granted 2 open cases to cas-main (2026)" in granted
    assert f"took over {cases['main-a']}" in _staff(ops_home, "cas-main-new", "take-over", cases["main-a"])

    assert _readable(ops_home, "cas-main-new") == {cases["main-a"]: "ok", cases["main-b"]: "ok"}
    shown = json.loads(_staff(ops_home, "cas-main-new", "show", "--json", cases["main-a"]))
    assert ("note", "ok", "called back") in [(e["kind"], e["readable"], e["text"]) for e in shown["events"]]
    findings = _doctor(ops_home)
    coverage = [f for f in findings if f["check"] == "coverage"]
    assert [f for f in coverage if f["level"] == "error"] == [], coverage
    # Left: the lone admin, and 'other' down to Bea since cas-other left; nothing unreadable, no orphan.
    left = [f["problem"] for f in coverage]
    assert len(left) == 2 and any("active admins" in p for p in left), coverage
    assert any(p.startswith("queue 'other' has fewer than two") for p in left), coverage
