"""`waystation staff` as a person runs it: the real console script against the live staff API (and direct mode)."""

from __future__ import annotations

import json
import time

from crypto.keys import Identity, dump_identity
from intake.followups import add_follow_up
from staff.pins import PinStore, pin_bot
from tests.bot.harness import free_port
from tests.cli.runner import PASSPHRASE, Result, assert_user_error, ok, run
from tests.staff.conftest import REQUEST_CANARY, Site, reference_hash


def staff(site: Site, who: str, *args: str, stdin: bytes | None = None, passphrase: str | None = PASSPHRASE,
          server: str | None = None) -> Result:
    """`waystation staff --server URL --key WHO.key ARGS`, with pins under tmp/config."""
    return run("staff", "--server", server or site.url, "--key", site.key_files[who], *args, stdin=stdin,
               passphrase=passphrase, env={"WAYSTATION_CONFIG_DIR": str(site.tmp / "config")})


def test_remote_list_show_claim_note_reply_close_reopen(site: Site) -> None:
    main, other = site.cases["main"], site.cases["main-2"]
    first = _ok(site, "cas-main", "list")
    assert "first contact with" in first.stderr and "Ada Admin" in first.stderr
    assert main in first.stdout and other in first.stdout and "now / shelter" in first.stdout
    listed = json.loads(_ok(site, "cas-main", "list", "--json").stdout)
    assert sorted(c["id"] for c in listed) == sorted([main, other])  # one time bucket: no order between them
    mine = next(c for c in listed if c["id"] == main)
    assert mine["readable"] == "ok" and mine["request"]["answers"]["story"] == REQUEST_CANARY

    assert f"claimed {main} (now claimed)" in _ok(site, "cas-main", "claim", main[:7]).stdout
    assert f"added to {main}" in _ok(site, "cas-main", "note", main, "called the shelter").stdout
    note = staff(site, "cas-main", "note", main, "-", stdin=b"from stdin\nsecond line")
    assert f"added to {main}" in note.stdout
    assert "queued for the bot" in _ok(site, "cas-main", "reply", main, "We will call you.").stdout
    assert "(now closed)" in _ok(site, "cas-main", "close", main).stdout
    reopened = _ok(site, "cas-main", "reopen", main)
    assert "(now claimed)" in reopened.stdout and reopened.stderr == ""

    text = _ok(site, "cas-main-2", "show", main).stdout
    assert f"case {main}" in text and "story: " + REQUEST_CANARY in text
    for line in ("note by cas-main:", "called the shelter", "from stdin", "second line", "reply by cas-main (queued):",
                 "We will call you.", "close by cas-main", "reopen by cas-main"):
        assert line in text, text
    shown = json.loads(_ok(site, "cas-main-2", "show", "--json", main).stdout)
    assert [e["kind"] for e in shown["events"]] == ["claim", "note", "note", "reply", "close", "reopen"]
    assert all(e["readable"] == "ok" for e in shown["events"])
    assert shown["events"][1]["text"] == "called the shelter" and shown["events"][1]["signer"] == "cas-main"


def test_direct_and_remote_show_print_the_same_case(site: Site) -> None:
    """`show --home` (on the server) and `show --server` decrypt the same history the same way."""
    main = site.cases["main"]
    _ok(site, "cas-main", "claim", main)
    _ok(site, "cas-main", "note", main, "note-canary-Dr41")
    _ok(site, "cas-main", "reply", main, "reply-canary-Dr42")
    with site.open() as server:
        add_follow_up(server, reference_hash(site, "main"), "follow-up-canary-Dr43", "ru", int(time.time()))

    def direct(*args: str) -> Result:
        result = run("staff", "show", "--home", site.root, "--key", site.key_files["cas-main-2"], *args)
        assert result.returncode == 0 and "Traceback" not in result.stderr, str(result)
        return result

    remote_text, direct_text = _ok(site, "cas-main-2", "show", main).stdout, direct(main).stdout
    assert direct_text == remote_text
    for canary in ("note-canary-Dr41", "reply-canary-Dr42", "follow-up-canary-Dr43", REQUEST_CANARY):
        assert canary in direct_text, direct_text
    assert "(encrypted" not in direct_text and "NOT VERIFIED" not in direct_text
    assert json.loads(direct("--json", main[:8]).stdout) == json.loads(_ok(site, "cas-main-2", "show", "--json",
                                                                           main).stdout)


def _ok(site: Site, who: str, *args: str) -> Result:
    result = staff(site, who, *args)
    assert result.returncode == 0 and "Traceback" not in result.stderr, str(result)
    return result


def test_remote_mistakes_are_one_line_each(site: Site, kdf: object) -> None:
    main = site.cases["main"]
    _ok(site, "cas-main", "list")  # first contact: pins
    assert_user_error(staff(site, "cas-main", "show", "zzzzzzzzzzzzzzzz"), "no such case in your queues")
    assert_user_error(staff(site, "cas-main", "show", "abc"), "at least 6")
    assert_user_error(staff(site, "cas-other", "note", main, "hello"), "no such case in your queues")
    assert_user_error(staff(site, "cas-main", "list", server=f"http://127.0.0.1:{free_port()}"), "cannot reach")
    assert_user_error(staff(site, "cas-main", "list", server="http://staff.example.org"), "use https://")
    assert_user_error(staff(site, "admin", "list"), "the server refused: the role admin may not list cases")
    assert_user_error(staff(site, "vol", "show", main), "volunteer, not a caseworker")
    assert_user_error(staff(site, "cas-main", "list", passphrase="wrong"), "wrong passphrase")
    assert_user_error(staff(site, "cas-main", "note", main, "   "), "empty note")
    assert_user_error(staff(site, "cas-main", "reply", site.cases["main-2"], "hi"), "nobody to reply to")
    _ok(site, "cas-main", "claim", main)
    assert_user_error(staff(site, "cas-main-2", "claim", main), "already claimed")

    stranger = Identity.generate("stranger")
    site.key_files["stranger"] = site.tmp / "stranger.key"
    site.key_files["stranger"].write_bytes(dump_identity(stranger, PASSPHRASE.encode(), kdf))  # type: ignore[arg-type]
    assert_user_error(staff(site, "stranger", "list"), "did not accept your signature")

    pin_bot(PinStore(site.tmp / "config" / "pins.json"), site.url, Identity.generate("bot").public)
    assert_user_error(staff(site, "cas-main", "list"), "bot key of", "changed")

    both = run("staff", "list", "--home", site.root, "--server", site.url, "--key", site.key_files["cas-main"])
    assert both.returncode == 2 and "either --server" in both.stderr and "Traceback" not in both.stderr


def test_pin_command_shows_forgets_and_pins_a_bot_fingerprint(site: Site) -> None:
    env = {"WAYSTATION_CONFIG_DIR": str(site.tmp / "config")}
    assert "nothing pinned" in ok("staff", "pin", "--server", site.url, env=env).stdout
    _ok(site, "cas-main", "list")
    shown = ok("staff", "--server", site.url, "pin", env=env).stdout
    assert "admin Ada Admin:" in shown and "roster serial seen:" in shown
    with site.open() as server:
        bot = server.bot_identity().public
    pin_bot(PinStore(site.tmp / "config" / "pins.json"), site.url, Identity.generate("bot").public)
    assert_user_error(staff(site, "cas-main", "list"), "changed")
    wrong = run("staff", "pin", "--server", site.url, "--key", site.key_files["cas-main"], "--bot-fingerprint",
                "00000 00000 00000 00000 00000 00000", env=env)
    assert_user_error(wrong, "not the one you were given")
    ok("staff", "pin", "--server", site.url, "--key", site.key_files["cas-main"], "--bot-fingerprint",
       bot.fingerprint(), env=env)
    _ok(site, "cas-main", "list")
    assert "forgot" in ok("staff", "pin", "--server", site.url, "--forget", env=env).stdout
    assert "first contact" in _ok(site, "cas-main", "list").stderr


def test_direct_mode_claim_note_reply_close_reopen(site: Site) -> None:
    main = site.cases["main"]

    def direct(*args: str) -> Result:
        return ok("staff", "--home", site.root, "--key", site.key_files["cas-main"], *args)

    assert "(now claimed)" in direct("claim", main[:8]).stdout
    assert f"added to {main}" in direct("note", main, "written on the server").stdout
    assert "queued for the bot" in direct("reply", main, "a reply from the server machine").stdout
    assert "(now closed)" in direct("close", main).stdout
    assert "(now claimed)" in direct("reopen", main).stdout
    assert_user_error(run("staff", "--home", site.root, "--key", site.key_files["cas-other"], "claim", main),
                      "queue 'main'")
    assert_user_error(run("staff", "--home", site.root, "--key", site.key_files["cas-main"], "close", "zzzzzzzz"),
                      "no such case")
    with site.remote("cas-main-2") as client:
        events = client.fetch(main).events
    assert [(e.event.kind.value, e.text) for e in events] == [
        ("claim", None), ("note", "written on the server"), ("reply", "a reply from the server machine"),
        ("close", None), ("reopen", None)]
    with site.open() as server:
        actions = [(a.actor, a.action) for a in server.cases.audit_log(main)][1:]
    assert actions == [("cas-main", f"case.{k}") for k in ("claim", "note", "reply", "close", "reopen")]


def test_remote_help_names_every_command() -> None:
    text = ok("staff", "--help").stdout
    for command in ("list", "show", "claim", "note", "reply", "close", "reopen", "pin"):
        assert command in text
    assert "--server" in text and "--home" in text


def test_a_case_sealed_before_a_caseworker_joined_is_not_for_this_key_in_both_modes(site: Site) -> None:
    """Not `[rejected] NotARecipient` in direct mode: nothing is wrong with the case, it was sealed before."""
    from crypto.keys import KDF_MINIMUM, dump_public

    late = Identity.generate("cas-late")
    site.key_files["cas-late"] = site.tmp / "keys" / "cas-late.key"
    site.key_files["cas-late"].write_bytes(dump_identity(late, PASSPHRASE.encode(), KDF_MINIMUM))
    public = site.tmp / "keys" / "cas-late.key.pub"
    public.write_bytes(dump_public(late.public))
    ok("roster", "add", "--home", site.root, "--admin", site.key_files["admin"], "--role", "caseworker",
       "--queue", "main", public)
    main = site.cases["main"]

    direct = ok("staff", "list", "--home", site.root, "--key", site.key_files["cas-late"]).stdout
    assert "[not-for-this-key] this request was not encrypted to your key" in direct
    assert "rejected" not in direct and "NotARecipient" not in direct
    listed = json.loads(ok("staff", "list", "--json", "--home", site.root, "--key", site.key_files["cas-late"]).stdout)
    assert {c["readable"] for c in listed} == {"not-for-this-key"} and len(listed) == 2

    shown_direct = ok("staff", "show", "--home", site.root, "--key", site.key_files["cas-late"], main).stdout
    assert shown_direct == _ok(site, "cas-late", "show", main).stdout
    assert "not encrypted to your key" in shown_direct and "NotARecipient" not in shown_direct
