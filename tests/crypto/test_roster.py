"""Roster: signing, verification, expiry, rollback, revocation."""

from __future__ import annotations

import json

import pytest
from nacl.signing import VerifyKey

from crypto.encoding import b64
from crypto.errors import (
    RosterChangeRefused,
    RosterExpired,
    RosterMalformed,
    RosterRolledBack,
    RosterSignatureInvalid,
)
from crypto.keys import Identity
from crypto.roster import DAY, Member, Role, Roster, load_roster, new_roster, sign_roster

NOW = 1_800_000_000
ADMIN = Identity.generate("Ada")
CAS = Identity.generate("Cas")
CAS2 = Identity.generate("Cas Two")
VOL = Identity.generate("Vol")


def member(identity: Identity, role: Role, queues: tuple[str, ...] = ("main",), days: int = 365) -> Member:
    return Member(identity.public, role, queues, NOW, NOW + days * DAY)


def base() -> Roster:
    roster = new_roster(ADMIN.public, NOW, 30, 365)
    roster = roster.with_member(member(CAS, Role.CASEWORKER), NOW, 30)
    roster = roster.with_member(member(CAS2, Role.CASEWORKER, ("legal",)), NOW, 30)
    return roster.with_member(member(VOL, Role.VOLUNTEER), NOW, 30)


def load(data: bytes, now: int = NOW, trusted: list[VerifyKey] | None = None, min_serial: int = 0) -> Roster:
    return load_roster(data, trusted_admins=trusted or [ADMIN.signing_key.verify_key], now=now,
                       min_serial=min_serial)


def test_signed_roster_loads_and_routes_to_caseworkers_only() -> None:
    roster = load(sign_roster(base(), ADMIN))
    assert [m.name for m in roster.caseworkers_for("main", NOW)] == ["Cas"]
    assert [m.name for m in roster.caseworkers_for("legal", NOW)] == ["Cas Two"]
    assert roster.caseworkers_for("nobody", NOW) == ()


def test_forged_roster_signed_by_untrusted_key_is_rejected() -> None:
    mallory = Identity.generate("Ada")
    forged = new_roster(mallory.public, NOW, 30, 365)
    with pytest.raises(RosterSignatureInvalid):
        load(sign_roster(forged, mallory))


def test_trusted_key_that_is_not_an_admin_on_the_roster_is_rejected() -> None:
    data = sign_roster(base(), ADMIN)
    with pytest.raises(RosterSignatureInvalid):
        load(data, trusted=[CAS.signing_key.verify_key])


def test_edited_body_fails_signature() -> None:
    wrapper = json.loads(sign_roster(base(), ADMIN))
    import base64

    body = json.loads(base64.b64decode(wrapper["body"]))
    body["members"][1]["queues"] = ["main", "legal"]
    wrapper["body"] = b64(json.dumps(body).encode())
    with pytest.raises(RosterSignatureInvalid):
        load(json.dumps(wrapper).encode())


def test_expired_roster_is_rejected() -> None:
    data = sign_roster(base(), ADMIN)
    with pytest.raises(RosterExpired):
        load(data, now=NOW + 31 * DAY)


def test_older_roster_is_rejected_as_rollback() -> None:
    roster = base()
    with pytest.raises(RosterRolledBack):
        load(sign_roster(roster, ADMIN), min_serial=roster.serial + 1)


def test_revoked_caseworker_gets_no_new_cases() -> None:
    roster = load(sign_roster(base().with_revoked("Cas", NOW + 10, 30), ADMIN), now=NOW + 20)
    assert roster.caseworkers_for("main", NOW + 20) == ()
    assert roster.find("Cas") is not None and roster.find("Cas").revoked == NOW + 10  # type: ignore[union-attr]


def test_expired_member_gets_no_new_cases() -> None:
    roster = base().with_member(member(Identity.generate("Short"), Role.CASEWORKER, days=1), NOW, 30)
    assert "Short" in [m.name for m in roster.caseworkers_for("main", NOW)]
    assert "Short" not in [m.name for m in roster.caseworkers_for("main", NOW + 2 * DAY)]


def test_expired_admin_signature_is_rejected() -> None:
    roster = new_roster(ADMIN.public, NOW, 30, 1)
    with pytest.raises(RosterSignatureInvalid):
        load(sign_roster(roster, ADMIN), now=NOW + 2 * DAY)


def test_only_an_active_admin_may_sign() -> None:
    with pytest.raises(RosterChangeRefused):
        sign_roster(base(), CAS)


def test_duplicate_name_and_key_are_refused() -> None:
    with pytest.raises(RosterChangeRefused):
        base().with_member(member(Identity.generate("Cas"), Role.CASEWORKER), NOW, 30)
    with pytest.raises(RosterChangeRefused):
        base().with_member(Member(CAS.public.__class__("Other", CAS.public.verify_key, CAS.public.box_key),
                                  Role.CASEWORKER, ("main",), NOW, NOW + DAY), NOW, 30)


def test_revoking_last_admin_is_refused() -> None:
    with pytest.raises(RosterChangeRefused):
        base().with_revoked("Ada", NOW, 30)


def test_caseworker_without_queue_is_refused() -> None:
    with pytest.raises(RosterChangeRefused):
        base().with_member(member(Identity.generate("Q"), Role.CASEWORKER, ()), NOW, 30)


def test_each_edit_raises_the_serial() -> None:
    roster = base()
    assert roster.renewed(NOW, 30).serial == roster.serial + 1


@pytest.mark.parametrize("data", [b"", b"{}", b'{"format":"waystation-roster","body":"!!"}', b"[1]"])
def test_malformed_roster_files_are_rejected(data: bytes) -> None:
    with pytest.raises(RosterMalformed):
        load(data)
