"""`waystation volunteers`: invite (admins only), list, set, remove, through the real console script."""

from __future__ import annotations

import json
import time
from pathlib import Path

from crypto.keys import KDF_MINIMUM, dump_identity
from storage.deletions import DeletionStore
from storage.volunteers import Settings, VolunteerStore, hash_code, normalise_code
from tests.cli.runner import PASSPHRASE, assert_user_error, ok, run
from tests.conftest import StaffedHome


def _key(staffed: StaffedHome, name: str, path: Path) -> Path:
    identity = staffed.admin if name == "admin" else staffed.staff[name]
    path.write_bytes(dump_identity(identity, PASSPHRASE.encode(), KDF_MINIMUM))
    return path


def test_an_admin_invites_and_the_volunteer_is_listed_changed_and_removed(staffed_home: StaffedHome,
                                                                        tmp_path: Path) -> None:
    home = str(staffed_home.root)
    admin = _key(staffed_home, "admin", tmp_path / "admin.key")
    invited = json.loads(ok("volunteers", "invite", "--home", home, "--admin", admin, "--queue", "main",
                            "--queue", "other", "--tier", "2", "--quiet", "22:00-07:00", "--tz", "Europe/Berlin",
                            "--label", "A.B.", "--admin-notices", "--json").stdout)
    assert (invited["queues"], invited["tier"]) == (["main", "other"], 2)
    listed = json.loads(ok("volunteers", "list", "--home", home, "--json").stdout)
    assert listed["volunteers"] == [] and len(listed["invites"]) == 1
    with staffed_home.open() as server:  # what the bot does when the code arrives
        volunteer = VolunteerStore(server.db).redeem(
            hash_code(normalise_code(invited["code"]) or "", server.home.pepper()), 700000001, "ru", int(time.time()))
        assert volunteer is not None
    [shown] = json.loads(ok("volunteers", "list", "--home", home, "--json").stdout)["volunteers"]
    assert (shown["queues"], shown["tier"], shown["quiet"], shown["admin_notices"], shown["label"], shown["active"]) \
        == (["main", "other"], 2, "22:00-07:00 Europe/Berlin", True, "A.B.", True)
    assert "chat" not in json.dumps(shown)  # the chat id stays in the database
    text = ok("volunteers", "list", "--home", home).stdout
    assert "A.B." in text and "22:00-07:00 Europe/Berlin" in text
    ok("volunteers", "set", "--home", home, str(shown["id"]), "--tier", "1", "--quiet", "off", "--inactive")
    [changed] = json.loads(ok("volunteers", "list", "--home", home, "--json").stdout)["volunteers"]
    assert (changed["tier"], changed["quiet"], changed["active"], changed["inactive_reason"]) \
        == (1, None, False, "paused")
    ok("volunteers", "remove", "--home", home, str(shown["id"]))
    assert json.loads(ok("volunteers", "list", "--home", home, "--json").stdout)["volunteers"] == []


def test_only_an_active_admin_may_invite_and_mistakes_get_one_line(staffed_home: StaffedHome, tmp_path: Path) -> None:
    home = str(staffed_home.root)
    caseworker = _key(staffed_home, "cas-main", tmp_path / "cas.key")
    admin = _key(staffed_home, "admin", tmp_path / "admin.key")
    assert_user_error(run("volunteers", "invite", "--home", home, "--admin", caseworker), "not an active admin")
    assert_user_error(run("volunteers", "invite", "--home", home, "--admin", admin, "--quiet", "late"), "HH:MM")
    assert_user_error(run("volunteers", "invite", "--home", home, "--admin", admin, "--queue", "Bad Queue"), "queue")
    assert_user_error(run("volunteers", "invite", "--home", home, "--admin", admin, "--quiet", "22:00-07:00",
                          "--tz", "Nowhere/City"), "time zone")
    assert_user_error(run("volunteers", "set", "--home", home, "42", "--tier", "2"), "no such volunteer")
    assert_user_error(run("volunteers", "remove", "--home", home, "42"), "no such volunteer")
    ok("volunteers", "invite", "--home", home, "--admin", admin)
    assert "1 unused invitations withdrawn" in ok("volunteers", "remove", "--home", home, "--unused-invites").stdout


def test_a_removed_volunteer_with_messages_in_their_chat_is_listed_until_the_bot_forgets_them(
        staffed_home: StaffedHome) -> None:
    home = str(staffed_home.root)
    now = int(time.time())
    with staffed_home.open() as server:
        store = VolunteerStore(server.db)
        code = normalise_code("K7QM-4XRT-9WPA") or ""
        store.create_invite(hash_code(code, server.home.pepper()), Settings(("main",), label="A.B."), "Ada Admin",
                            now, now + 3600)
        volunteer = store.redeem(hash_code(code, server.home.pepper()), 700000001, "en", now)
        assert volunteer is not None
        DeletionStore(server.db).record(700000001, [1, 2], now + 3600)  # their welcome message and an alert
    said = ok("volunteers", "remove", "--home", home, str(volunteer.id)).stdout
    assert "they get no more alerts" in said and "deletes them (within 24 hours)" in said
    [shown] = json.loads(ok("volunteers", "list", "--home", home, "--json").stdout)["volunteers"]
    assert (shown["id"], shown["removed"], shown["active"], shown["inactive_reason"], shown["label"], shown["queues"]) \
        == (volunteer.id, True, False, "removed", "", [])
    text = ok("volunteers", "list", "--home", home).stdout
    assert "removed, clearing" in text and "then forgets them" in text and "A.B." not in text
    assert_user_error(run("volunteers", "set", "--home", home, str(volunteer.id), "--active"), "was removed")
    assert "already removed" in ok("volunteers", "remove", "--home", home, str(volunteer.id)).stdout
    with staffed_home.open() as server:
        DeletionStore(server.db).remove(700000001, [1, 2])  # what the bot's deletion timer does
        assert VolunteerStore(server.db).erase_removed("bot", now) == 1
    assert json.loads(ok("volunteers", "list", "--home", home, "--json").stdout)["volunteers"] == []
