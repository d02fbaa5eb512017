"""The remote client trusts nothing unverified: pinned keys, rosters, and every envelope it shows."""

from __future__ import annotations

import json
import stat
import time

import pytest

from crypto.encoding import b64
from crypto.keys import Identity
from crypto.roster import DAY, Member, Role, Roster, sign_roster
from staff.direct import ReadState
from staff.errors import NotOnRoster, PinMismatched, SignatureRefused
from staff.pins import PinStore, ServerPins, pin_admin, pin_bot
from storage.cases import EventKind
from tests.staff.conftest import Site


def _pins(site: Site, name: str = "cas-main") -> PinStore:
    return PinStore(site.tmp / "pins" / f"{name}.json")


def test_first_contact_pins_admins_and_bot_then_is_quiet(site: Site) -> None:
    with site.remote("cas-main") as client:
        first = client.connect()
    assert [p.split(" (")[0] for p in first.newly_pinned] == ["admin Ada Admin", f"bot key {first.newly_pinned[1][8:]}"]
    assert site.home.admin.public.fingerprint() in first.newly_pinned[0]
    with site.remote("cas-main") as client:
        assert client.connect().newly_pinned == []
    path = site.tmp / "pins" / "cas-main.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    pins = _pins(site).load(site.url)
    assert pins is not None and list(pins.admins.values()) == ["Ada Admin"] and pins.roster_serial > 0


def _replace_roster(site: Site, admin: Identity, serial: int) -> None:
    """What a compromised server could do: put a roster signed by its own admin key in place."""
    now = int(time.time())
    members = tuple(Member(i.public, r, q, now, now + 365 * DAY) for i, r, q in [
        (admin, Role.ADMIN, ()), (site.identity("cas-main"), Role.CASEWORKER, ("main",))])
    (site.root / "roster.json").write_bytes(sign_roster(Roster(serial, now, now + 30 * DAY, members), admin))
    with (site.root / "trusted_admins").open("a") as handle:
        handle.write(b64(bytes(admin.signing_key.verify_key)) + "\n")


def test_roster_signed_by_an_unpinned_admin_is_refused(site: Site) -> None:
    with site.remote("cas-main") as client:
        client.connect()
    _replace_roster(site, Identity.generate("Mallory Admin"), serial=1000)
    with site.remote("cas-main") as client, pytest.raises(PinMismatched, match="not pinned"):
        client.connect()


def test_explicit_pin_before_first_contact_refuses_another_admin(site: Site) -> None:
    pin_admin(_pins(site), site.url, Identity.generate("Someone Else").public)
    with site.remote("cas-main") as client, pytest.raises(PinMismatched, match="have not pinned"):
        client.connect()


def test_changed_bot_key_is_refused_until_pinned_again(site: Site) -> None:
    with site.remote("cas-main") as client:
        real = client.connect().bot_keys
    pin_bot(_pins(site), site.url, Identity.generate("bot").public)  # as if the server's bot key had changed
    with site.remote("cas-main") as client, pytest.raises(PinMismatched, match="bot key of .* changed"):
        client.connect()
    with site.remote("cas-main") as client:
        presented = client.presented_bot()
    pin_bot(_pins(site), site.url, presented)
    with site.remote("cas-main") as client:
        assert client.connect().bot_keys[0] == real[0]
        assert client.list()[0].state is ReadState.OK


def test_older_roster_than_seen_is_refused(site: Site) -> None:
    with site.remote("cas-main") as client:
        client.connect()
    store = _pins(site)
    pins = store.load(site.url)
    assert pins is not None
    pins.roster_serial += 5
    store.save(site.url, pins)
    with site.remote("cas-main") as client, pytest.raises(PinMismatched, match="older roster"):
        client.connect()


def test_revoked_admin_is_unpinned_and_cannot_sign_later(site: Site) -> None:
    second = Identity.generate("Bea Admin")
    now = int(time.time())
    with site.open() as server:
        roster = server.roster(now).with_member(Member(second.public, Role.ADMIN, (), now, now + DAY), now, 30)
        server.save_roster(sign_roster(roster, site.home.admin), now, new_admins=[(second.signing_key.verify_key, "B")])
    with site.remote("cas-main") as client:
        client.connect()
    assert set(_pins(site).load(site.url).admins.values()) == {"Ada Admin", "Bea Admin"}  # type: ignore[union-attr]
    with site.open() as server:
        roster = server.roster(now).with_revoked("Ada Admin", now, 30)
        server.save_roster(sign_roster(roster, second), now)
    with site.remote("cas-main") as client:
        client.connect()
    assert set(_pins(site).load(site.url).admins.values()) == {"Bea Admin"}  # type: ignore[union-attr]
    _replace_roster(site, site.home.admin, serial=1000)  # the revoked admin's key, misused
    with site.remote("cas-main") as client, pytest.raises(PinMismatched):
        client.connect()


def test_key_dropped_from_the_roster_is_told_in_a_sentence(site: Site) -> None:
    _replace_roster(site, site.home.admin, serial=1000)  # same admin, a roster without cas-main-2
    with site.remote("cas-main-2") as client, pytest.raises(SignatureRefused, match="not on its roster"):
        client.connect()


def test_pins_file_that_is_damaged_is_a_clear_error(site: Site) -> None:
    path = site.tmp / "pins" / "cas-main.json"
    path.parent.mkdir(parents=True)
    path.write_text("{")
    with site.remote("cas-main") as client, pytest.raises(Exception, match="cannot be read"):
        client.connect()


# -- tampered data is shown as such, never skipped ---------------------------------------------


def _sql(site: Site, statement: str, *params: object) -> None:
    with site.open() as server, server.db.transaction() as conn:
        conn.execute(statement, params)


def test_tampered_request_is_listed_as_rejected(site: Site) -> None:
    case = site.cases["main-2"]
    with site.open() as server:
        envelope = bytearray(server.cases.fetch(case).envelope or b"")
    envelope[-70] ^= 1
    _sql(site, "UPDATE cases SET envelope = ? WHERE id = ?", bytes(envelope), case)
    with site.remote("cas-main") as client:
        views = {v.case.id: v for v in client.list()}
        detail = client.fetch(case)
    assert views[site.cases["main"]].state is ReadState.OK
    assert views[case].state is ReadState.REJECTED and "SignatureInvalid" in (views[case].problem or "")
    assert detail.view.state is ReadState.REJECTED and detail.view.request is None


def test_request_moved_to_another_case_is_rejected(site: Site) -> None:
    with site.open() as server:
        stolen = server.cases.fetch(site.cases["main"]).envelope
    _sql(site, "UPDATE cases SET envelope = ? WHERE id = ?", stolen, site.cases["main-2"])
    with site.remote("cas-main") as client:
        view = client.fetch(site.cases["main-2"]).view
    assert view.state is ReadState.REJECTED and "BindingMismatched" in (view.problem or "")


def test_tampered_moved_or_misattributed_events_are_shown_as_rejected(site: Site) -> None:
    main, other = site.cases["main"], site.cases["main-2"]
    with site.remote("cas-main") as client:
        client.note(main, "first note")
        client.note(main, "second note")
        client.note(main, "third note")
    with site.open() as server:
        events = server.cases.events(main)
    flipped = bytearray(events[0].envelope or b"")
    flipped[-1] ^= 0x80
    _sql(site, "UPDATE case_events SET envelope = ? WHERE id = ?", bytes(flipped), events[0].id)
    _sql(site, "UPDATE case_events SET actor = 'cas-main-2' WHERE id = ?", events[1].id)
    _sql(site, "INSERT INTO case_events (case_id, kind, actor, created_at, envelope) VALUES (?, 'note', "
               "'cas-main', 0, ?)", other, events[2].envelope)
    _sql(site, "INSERT INTO case_events (case_id, kind, actor, created_at, envelope) VALUES (?, 'note', "
               "'cas-main', 0, NULL)", main)
    with site.remote("cas-main-2") as client:
        shown = client.fetch(main).events
        moved = client.fetch(other).events
    assert [(e.event.kind, e.state) for e in shown] == [
        (EventKind.NOTE, ReadState.REJECTED), (EventKind.NOTE, ReadState.REJECTED),
        (EventKind.NOTE, ReadState.OK), (EventKind.NOTE, ReadState.REJECTED)]
    assert "SignatureInvalid" in (shown[0].problem or "")
    assert "names someone else" in (shown[1].problem or "") and shown[1].text is None
    assert shown[2].text == "third note"
    assert "missing" in (shown[3].problem or "")
    assert [(e.state, e.text) for e in moved] == [(ReadState.REJECTED, None)]
    assert "BindingMismatched" in (moved[0].problem or "")


def test_note_by_a_since_revoked_caseworker_stays_readable_and_says_so(site: Site) -> None:
    with site.remote("cas-main-2") as client:
        client.note(site.cases["main"], "written while active")
    now = int(time.time())
    with site.open() as server:
        server.save_roster(sign_roster(server.roster(now).with_revoked("cas-main-2", now, 30), site.home.admin), now)
    with site.remote("cas-main") as client:
        (event,) = client.fetch(site.cases["main"]).events
    assert (event.state, event.text, event.signer) == (ReadState.OK, "written while active", "cas-main-2")
    assert "no longer active" in (event.problem or "")


def test_volunteer_and_admin_are_refused_content_by_the_client_too(site: Site) -> None:
    for name in ("vol", "admin"):
        with site.remote(name) as client, pytest.raises(NotOnRoster, match="not a caseworker"):
            client.fetch(site.cases["main"])


def test_pins_are_kept_per_server(site: Site) -> None:
    store = _pins(site)
    store.save("https://a.example", ServerPins(admins={b64(bytes(32)): "Other Admin"}))
    with site.remote("cas-main") as client:
        client.connect()
    data = json.loads((site.tmp / "pins" / "cas-main.json").read_text())
    assert set(data["servers"]) == {"https://a.example", site.url}
