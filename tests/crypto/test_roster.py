"""Roster: signing, verification, expiry, rollback, revocation."""

from __future__ import annotations

import json

import pytest
from nacl.signing import VerifyKey

from crypto.encoding import b64, dump_object
from crypto.errors import (
    RosterChangeRefused,
    RosterExpired,
    RosterMalformed,
    RosterRolledBack,
    RosterSignatureInvalid,
)
from crypto.keys import Identity
from crypto.roster import (
    DAY,
    ROSTER_FORMAT,
    ROSTER_VERSION,
    Member,
    Role,
    Roster,
    _member_to_json,
    load_roster,
    load_roster_for_renewal,
    new_roster,
    sign_roster,
    verify_roster,
)

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


def test_roster_whose_signer_has_expired_is_expired_for_use() -> None:
    data = sign_roster(new_roster(ADMIN.public, NOW, 30, 1), ADMIN)
    with pytest.raises(RosterExpired, match="renew"):
        load(data, now=NOW + 2 * DAY)
    assert verify_roster(data, trusted_admins=[ADMIN.signing_key.verify_key]).expires == NOW + DAY


# -- for renewal: the clock does not decide, everything else does ----------------------------------


def _renewable(data: bytes, trusted: list[VerifyKey] | None = None, min_serial: int = 0) -> Roster:
    return load_roster_for_renewal(data, trusted_admins=trusted or [ADMIN.signing_key.verify_key],
                                   min_serial=min_serial)


def _sign_unchecked(roster: Roster, signer: Identity) -> bytes:
    """What a signer can produce without sign_roster's own refusal (an attacker's tool)."""
    body = dump_object({"format": ROSTER_FORMAT, "version": ROSTER_VERSION, "serial": roster.serial,
                        "issued": roster.issued, "expires": roster.expires,
                        "members": [_member_to_json(m) for m in roster.members]})
    return dump_object({"format": ROSTER_FORMAT, "body": b64(body), "signer": b64(bytes(signer.signing_key.verify_key)),
                        "signature": b64(signer.signing_key.sign(body).signature)})


def test_expired_roster_and_expired_signer_load_for_renewal() -> None:
    data = sign_roster(new_roster(ADMIN.public, NOW, 30, 60), ADMIN)
    for later in (NOW + 31 * DAY, NOW + 61 * DAY, NOW + 3650 * DAY):
        with pytest.raises(RosterExpired):
            load(data, now=later)
    assert _renewable(data).find("Ada") is not None


def test_revoked_signer_is_refused_for_use_and_for_renewal() -> None:
    other = Identity.generate("Bo")
    roster = base().with_member(member(other, Role.ADMIN, ()), NOW, 30).with_revoked("Bo", NOW, 30)
    forged = _sign_unchecked(roster, other)  # Bo, revoked, still holding the key and pinned somewhere
    trusted = [ADMIN.signing_key.verify_key, other.signing_key.verify_key]
    with pytest.raises(RosterSignatureInvalid, match="revoked"):
        _renewable(forged, trusted)
    with pytest.raises(RosterSignatureInvalid, match="revoked"):
        load(forged, trusted=trusted)
    with pytest.raises(RosterChangeRefused):
        sign_roster(roster, other)


def test_renewal_still_refuses_rollback_untrusted_signers_and_altered_files() -> None:
    roster = base()
    data = sign_roster(roster, ADMIN)
    with pytest.raises(RosterRolledBack):
        _renewable(data, min_serial=roster.serial + 1)
    with pytest.raises(RosterSignatureInvalid):
        _renewable(data, trusted=[CAS.signing_key.verify_key])
    wrapper = json.loads(data)
    wrapper["signature"] = b64(bytes(64))
    with pytest.raises(RosterSignatureInvalid):
        _renewable(json.dumps(wrapper).encode())


def test_renewal_with_members_extends_everyone_not_revoked_and_shortens_nobody() -> None:
    long_lived = Identity.generate("Long")
    roster = (base().with_member(member(long_lived, Role.CASEWORKER, days=3000), NOW, 30)
              .with_revoked("Cas Two", NOW, 30))
    later = NOW + 400 * DAY  # every ordinary member has expired
    renewed = roster.renewed(later, 180, member_days=365)
    assert renewed.serial == roster.serial + 1 and renewed.expires == later + 180 * DAY
    by_name = {m.name: m for m in renewed.members}
    assert by_name["Ada"].expires == later + 365 * DAY and by_name["Ada"].active(later)
    assert by_name["Cas"].expires == later + 365 * DAY and by_name["Vol"].expires == later + 365 * DAY
    assert by_name["Long"].expires == NOW + 3000 * DAY
    assert by_name["Cas Two"].revoked == NOW and not by_name["Cas Two"].active(later)
    assert by_name["Cas Two"].expires == NOW + 365 * DAY
    assert roster.renewed(later, 180).members == roster.members  # without member_days nobody changes
    with pytest.raises(RosterChangeRefused):
        roster.renewed(later, 180, member_days=0)


def test_an_expired_admin_renews_with_members_and_the_result_is_usable() -> None:
    data = sign_roster(new_roster(ADMIN.public, NOW, 30, 60).with_member(member(CAS, Role.CASEWORKER), NOW, 30), ADMIN)
    later = NOW + 500 * DAY
    renewed = _renewable(data).renewed(later, 180, member_days=365)
    usable = load(sign_roster(renewed, ADMIN), now=later, min_serial=renewed.serial)
    assert [m.name for m in usable.caseworkers_for("main", later)] == ["Cas"]


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
