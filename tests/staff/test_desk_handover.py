"""Handover files: cases sealed to one named colleague, signed, opened only by them after checks on their roster.

Every bad path has its own test: the wrong recipient, a changed or cut file, a signer not on the
roster or revoked since, a file that names other people, a case of a queue the recipient (or the
signer) does not work on, a case the exporter cannot read. And the file never holds plaintext.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from crypto.errors import EnvelopeMalformed, NotARecipient, SignatureInvalid, SignerUntrusted
from crypto.handover import open_handover, seal_handover
from crypto.keys import Identity
from staff.errors import ExportRefused, HandoverRefused
from staff.handover import open_export
from tests.cli.runner import assert_user_error
from tests.staff.conftest import REQUEST_CANARY, Site, direct, remote
from tests.staff.test_grants import _resign, join, staff, staff_ok

NOTE_CANARY = "note-canary-Ho77"


def exported(site: Site, to: str = "cas-main-2", mode: object = remote) -> bytes:
    with mode(site, "cas-main") as desk:  # type: ignore[operator]
        desk.note(site.cases["main"], NOTE_CANARY)
        desk.tag(site.cases["main"], "housing")
        return desk.export([site.cases["main"][:8], site.cases["main-2"]], to)


def _payload(site: Site, **changes: object) -> bytes:
    """A handover payload as make_export writes it, with `changes`."""
    with site.open() as server:
        case = server.cases.fetch(site.cases["main"])
    body = {"format": "waystation-handover", "v": 1, "from": "cas-main", "to": "cas-main-2", "at": case.created_at,
            "cases": [{"id": case.id, "queue": case.queue, "status": "new", "created_at": case.created_at,
                       "claimed_by": None, "assigned_to": None, "tags": [], "request": {"answers": {}},
                       "events": []}]}
    return json.dumps({**body, **changes}).encode()


@pytest.mark.parametrize("mode", [remote, direct])
def test_the_named_colleague_opens_the_cases_and_their_history(site: Site, mode: object) -> None:
    data = exported(site, mode=mode)
    assert REQUEST_CANARY.encode() not in data and NOTE_CANARY.encode() not in data  # never plaintext
    with mode(site, "cas-main-2") as desk:  # type: ignore[operator]
        handover = desk.import_handover(data)
    assert (handover.exporter, handover.recipient) == ("cas-main", "cas-main-2")
    cases = {c.id: c for c in handover.cases}
    assert set(cases) == {site.cases["main"], site.cases["main-2"]}
    main = cases[site.cases["main"]]
    assert main.request["answers"]["story"] == REQUEST_CANARY and main.tags == ["housing"]
    assert [e["text"] for e in main.events if e["kind"] == "note"] == [NOTE_CANARY]


def test_a_handover_to_someone_outside_the_cases_queue_is_not_made(site: Site) -> None:
    with remote(site, "cas-main") as desk:
        for name, words in [("cas-other", "does not work on queue 'main'"), ("vol", "not an active caseworker"),
                            ("nobody", "nobody called 'nobody'")]:
            with pytest.raises(ExportRefused, match=words):
                desk.export([site.cases["main"]], name)
        with pytest.raises(ExportRefused, match="at least one case"):
            desk.export([], "cas-main-2")


def test_a_case_the_exporter_cannot_read_is_not_handed_over(site: Site) -> None:
    join(site, "cas-new")  # joined after the cases came: reads none of them
    with remote(site, "cas-new") as desk, pytest.raises(ExportRefused, match="cannot read case"):
        desk.export([site.cases["main"]], "cas-main")


def test_only_the_recipient_opens_it(site: Site) -> None:
    data = exported(site)
    join(site, "cas-new")
    for name in ("cas-main", "cas-new"):
        with remote(site, name) as desk, pytest.raises(HandoverRefused, match="someone else's key"):
            desk.import_handover(data)


def test_a_changed_or_cut_file_is_refused(site: Site) -> None:
    data = bytearray(exported(site))
    for position in (10, len(data) // 2, len(data) - 100, len(data) - 1):
        changed = bytearray(data)
        changed[position] ^= 1
        with remote(site, "cas-main-2") as desk, pytest.raises(HandoverRefused):
            desk.import_handover(bytes(changed))
    with remote(site, "cas-main-2") as desk:
        for cut in (bytes(data[:-1]), bytes(data[:50]), b"", b"WSHO" + bytes(200)):
            with pytest.raises(HandoverRefused):
                desk.import_handover(cut)


def test_a_signer_not_on_the_roster_or_revoked_since_is_refused(site: Site) -> None:
    outsider = Identity.generate("outsider")
    recipient = site.identity("cas-main-2")
    forged = seal_handover(_payload(site, **{"from": "outsider"}), recipient=recipient.box_private.public_key,
                           signer=outsider.signing_key)
    with remote(site, "cas-main-2") as desk, pytest.raises(HandoverRefused, match="not an active caseworker"):
        desk.import_handover(forged)
    data = exported(site)
    _resign(site, lambda roster, t: roster.with_revoked("cas-main", t, 30))
    with remote(site, "cas-main-2") as desk, pytest.raises(HandoverRefused, match="not an active caseworker"):
        desk.import_handover(data)


def test_a_file_that_names_other_people_or_another_queue_is_refused(site: Site) -> None:
    signer, me = site.identity("cas-main"), site.identity("cas-main-2")
    with site.open() as server:
        roster = server.roster(int(server.cases.fetch(site.cases["main"]).created_at) + 1)
        other = server.cases.fetch(site.cases["other"])

    def sealed(payload: bytes) -> bytes:
        return seal_handover(payload, recipient=me.box_private.public_key, signer=signer.signing_key)

    assert open_export(me, sealed(_payload(site)), roster).recipient == "cas-main-2"  # the control case opens
    with pytest.raises(HandoverRefused, match="other people"):
        open_export(me, sealed(_payload(site, to="cas-new")), roster)
    with pytest.raises(HandoverRefused, match="other people"):
        open_export(me, sealed(_payload(site, **{"from": "cas-main-2"})), roster)
    foreign = json.loads(_payload(site))
    foreign["cases"][0].update(id=other.id, queue="other")
    with pytest.raises(HandoverRefused, match="queue 'other'"):
        open_export(me, sealed(json.dumps(foreign).encode()), roster)
    with pytest.raises(HandoverRefused, match="not a handover"):
        open_export(me, sealed(b'{"format": "something else"}'), roster)


def test_the_file_format_rejects_what_it_must() -> None:
    signer, me, other = Identity.generate("a"), Identity.generate("b"), Identity.generate("c")
    data = seal_handover(b"payload", recipient=me.box_private.public_key, signer=signer.signing_key)
    assert open_handover(data, recipient=me.box_private, trusted_signers=[signer.signing_key.verify_key]).payload \
        == b"payload"
    with pytest.raises(SignerUntrusted):
        open_handover(data, recipient=me.box_private, trusted_signers=[other.signing_key.verify_key])
    with pytest.raises(NotARecipient):
        open_handover(data, recipient=other.box_private, trusted_signers=[signer.signing_key.verify_key])
    with pytest.raises(SignatureInvalid):
        open_handover(data[:-1] + bytes([data[-1] ^ 1]), recipient=me.box_private,
                      trusted_signers=[signer.signing_key.verify_key])
    with pytest.raises(EnvelopeMalformed):
        open_handover(b"WSHO\x02" + data[5:], recipient=me.box_private, trusted_signers=[signer.signing_key.verify_key])


def test_the_cli_exports_to_a_private_file_and_imports_it(site: Site) -> None:
    out = site.tmp / "handover.wsho"
    done = staff_ok(site, "cas-main", "export", site.cases["main"][:8], "--to", "cas-main-2", "--out", str(out))
    assert "sealed 1 case(s) to cas-main-2" in done.stdout
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600 and REQUEST_CANARY.encode() not in out.read_bytes()
    shown = staff_ok(site, "cas-main-2", "import", str(out)).stdout
    assert "handover from cas-main to cas-main-2" in shown and REQUEST_CANARY in shown
    as_json = json.loads(staff_ok(site, "cas-main-2", "import", "--json", str(out)).stdout)
    assert as_json["cases"][0]["id"] == site.cases["main"]
    assert_user_error(staff(site, "cas-main", "import", str(out)), "someone else's key")
    assert_user_error(staff(site, "cas-main", "export", site.cases["main"][:8], "--to", "cas-main-2", "--out",
                            str(out)), "exists already")
