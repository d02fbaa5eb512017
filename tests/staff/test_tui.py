"""`waystation staff tui` driven headlessly by Textual's pilot against the live staff API (and direct mode)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from staff.direct import DirectDesk
from staff.tui import DeskThread, Inbox, RemoteDesk, unsafe_environment
from staff.tui.app import QueueScreen
from staff.tui.dialogs import Confirm, TextPrompt
from storage.outbox import OutboxStore
from tests.cli.runner import (
    PASSPHRASE,
    assert_user_error,
    child_env,
    waystation_command,
)
from tests.cli.runner import run as run_cli
from tests.staff.conftest import REQUEST_CANARY, Site


def remote_desk(site: Site, who: str) -> DeskThread:
    """The remote desk as `who`, pinning into its own file, every answer recorded for the OpenAPI check."""
    return DeskThread(lambda: RemoteDesk(site.remote(who)))


@asynccontextmanager
async def inbox(desk: DeskThread) -> AsyncIterator[Pilot[None]]:
    """The inbox at 80x24, headless, once its queues are listed."""
    with desk:
        async with Inbox(desk).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            yield pilot


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """A test's pilot scenario, on its own event loop."""
    asyncio.run(scenario())


async def settle(pilot: Pilot[None]) -> None:
    """Wait until every worker (desk calls) has finished and the screen has caught up."""
    for _ in range(200):
        await pilot.pause()
        if all(w.is_finished for w in pilot.app.workers):
            await pilot.pause()
            return
        await pilot.app.workers.wait_for_complete()
    raise AssertionError("the inbox did not settle")


def text_of(pilot: Pilot[None], selector: str) -> str:
    content = pilot.app.screen.query_one(selector, Static).content
    return content.plain if isinstance(content, Text) else str(content)


def table(pilot: Pilot[None]) -> DataTable[Text]:
    return pilot.app.screen.query_one(DataTable)


def cell(pilot: Pilot[None], case_id: str, column: str) -> Text:
    return table(pilot).get_cell(case_id, column)


async def choose(pilot: Pilot[None], case_id: str) -> None:
    t = table(pilot)
    t.move_cursor(row=t.get_row_index(case_id))
    await settle(pilot)


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*("space" if ch == " " else ch for ch in text))


def test_table_lists_my_queues_and_selecting_shows_the_decrypted_request(site: Site) -> None:
    async def scenario() -> None:
        async with inbox(remote_desk(site, "cas-main")) as pilot:
            t = table(pilot)
            assert [str(k.value) for k in t.rows] == [site.cases["main"], site.cases["main-2"]]
            urgent = cell(pilot, site.cases["main"], "urgency")
            assert urgent.plain == "NOW" and "red" in str(urgent.style)
            assert cell(pilot, site.cases["main"], "status").plain == "new"
            assert "cas-main @ " in text_of(pilot, "#where") and "2 cases" in text_of(pilot, "#where")
            shown = text_of(pilot, "#detail")
            assert f"Case {site.cases['main']}" in shown and f"story: {REQUEST_CANARY}" in shown
            assert "Verified request" in shown and "nothing yet" in shown
            await choose(pilot, site.cases["main-2"])
            assert "help: documents" in text_of(pilot, "#detail")
            assert "cannot be answered" in text_of(pilot, "#detail")

    run(scenario)
    with remote_desk(site, "cas-other") as desk:
        assert [v.case.id for v in desk.desk.list()] == [site.cases["other"]]


def test_claim_changes_status_and_a_second_claim_gets_the_409_message(site: Site) -> None:
    main = site.cases["main"]

    async def scenario() -> None:
        async with inbox(remote_desk(site, "cas-main-2")) as late:  # listed while the case is still new
            async with inbox(remote_desk(site, "cas-main")) as first:
                await first.press("c")
                await settle(first)
                assert cell(first, main, "status").plain == "claimed"
                assert cell(first, main, "claimed").plain == "cas-main"
                assert text_of(first, "#notice") == f"claimed {main}"
                assert "claimed by cas-main" in text_of(first, "#detail")
            assert cell(late, main, "status").plain == "new"
            await late.press("c")
            await settle(late)
            assert text_of(late, "#notice") == "Error: the case is already claimed or closed"
            assert cell(late, main, "claimed").plain == "cas-main"  # the case was read again
            assert late.app.is_running

    run(scenario)


def test_note_appears_in_history_and_the_colleague_can_read_it(site: Site) -> None:
    main, note = site.cases["main"], "met at the station [bold]needs papers[/bold]"

    async def scenario() -> None:
        async with inbox(remote_desk(site, "cas-main")) as pilot:
            await pilot.press("n")
            assert isinstance(pilot.app.screen, TextPrompt)
            await type_text(pilot, note)
            await pilot.press("enter")
            await settle(pilot)
            assert text_of(pilot, "#notice") == f"note added to {main}"
            assert f"note by cas-main:\n    {note}" in text_of(pilot, "#detail")  # markup shown, not obeyed

    run(scenario)
    with site.remote("cas-main-2") as colleague:
        events = colleague.fetch(main).events
    assert [(e.event.kind.value, e.signer, e.text) for e in events] == [("note", "cas-main", note)]


def test_reply_warns_asks_and_puts_one_row_in_the_outbox(site: Site) -> None:
    main = site.cases["main"]

    async def scenario() -> None:
        async with inbox(remote_desk(site, "cas-main")) as pilot:
            await pilot.press("r")
            assert "THE PERSON WILL RECEIVE THIS MESSAGE" in text_of(pilot, "#explanation")
            await type_text(pilot, "we can help")
            await pilot.press("enter")
            assert isinstance(pilot.app.screen, Confirm)
            await pilot.press("n")  # back to the text, unchanged
            assert isinstance(pilot.app.screen, TextPrompt)
            await type_text(pilot, " tomorrow")
            await pilot.press("enter", "y")
            await settle(pilot)
            assert text_of(pilot, "#notice") == f"reply queued for the bot, case {main}"
            assert "reply to the person by cas-main (queued):\n    we can help tomorrow" in text_of(pilot, "#detail")

            await pilot.press("r", "escape")
            assert text_of(pilot, "#notice") == "no reply sent"

    run(scenario)
    with site.open() as server:
        assert [item.case_id for item in OutboxStore(server.db).all()] == [main]
    on_disk = b"".join(p.read_bytes() for p in sorted(site.tmp.rglob("*")) if p.is_file())
    assert b"we can help" not in on_disk and REQUEST_CANARY.encode() not in on_disk  # no log, no screenshot


def test_close_asks_for_confirmation_and_reopen_brings_it_back(site: Site) -> None:
    main = site.cases["main"]

    async def scenario() -> None:
        async with inbox(remote_desk(site, "cas-main")) as pilot:
            await pilot.press("x")
            assert isinstance(pilot.app.screen, Confirm)
            assert f"Close case {main}?" in text_of(pilot, "#question")
            await pilot.press("n")
            await settle(pilot)
            assert cell(pilot, main, "status").plain == "new" and text_of(pilot, "#notice") == f"{main} left open"
            await pilot.press("x", "y")
            await settle(pilot)
            assert cell(pilot, main, "status").plain == "closed"
            await pilot.press("x", "y")
            await settle(pilot)
            assert text_of(pilot, "#notice") == "Error: cannot close a case that is closed"
            await pilot.press("o")
            await settle(pilot)
            assert cell(pilot, main, "status").plain == "new"
            assert "closed by cas-main" in text_of(pilot, "#detail") and "reopened by cas-main" in text_of(
                pilot, "#detail")

    run(scenario)


def _flip_last_byte(site: Site, table_name: str, row_id: str | int) -> None:
    """What a thief with the database key could do: change one byte of a stored envelope."""
    with site.open() as server, server.db.transaction() as conn:
        (envelope,) = conn.execute(f"SELECT envelope FROM {table_name} WHERE id = ?", (row_id,)).fetchone()
        damaged = bytes(envelope[:-1]) + bytes([envelope[-1] ^ 1])
        conn.execute(f"UPDATE {table_name} SET envelope = ? WHERE id = ?", (damaged, row_id))


def test_tampered_request_and_note_are_shown_as_rejected(site: Site) -> None:
    main, other = site.cases["main"], site.cases["main-2"]
    with site.remote("cas-main") as client:
        _, event_id = client.note(other, "a note someone will damage")
        client.note(other, "an intact note")
    _flip_last_byte(site, "cases", main)
    _flip_last_byte(site, "case_events", event_id)

    async def scenario() -> None:
        async with inbox(remote_desk(site, "cas-main")) as pilot:
            assert [str(k.value) for k in table(pilot).rows] == [main, other]  # listed, not skipped
            assert cell(pilot, main, "urgency").plain == "REJECTED"
            shown = text_of(pilot, "#detail")
            assert "NOT VERIFIED: SignatureInvalid" in shown and REQUEST_CANARY not in shown
            await choose(pilot, other)
            history = text_of(pilot, "#detail")
            assert "note by cas-main: NOT VERIFIED: SignatureInvalid" in history
            assert "a note someone will damage" not in history and "an intact note" in history

    run(scenario)


def test_network_failure_is_a_notice_and_the_inbox_keeps_running(site: Site) -> None:
    async def scenario() -> None:
        async with inbox(remote_desk(site, "cas-main")) as pilot:
            site.live.stop()
            await pilot.press("f5")
            await settle(pilot)
            assert text_of(pilot, "#notice").startswith("Error: cannot reach the server at")
            await pilot.press("c")
            await settle(pilot)
            assert text_of(pilot, "#notice").startswith("Error: cannot reach the server at")
            assert len(table(pilot).rows) == 2 and pilot.app.is_running
            await pilot.press("q")
            await pilot.pause()
            assert not pilot.app.is_running

    run(scenario)


def test_direct_mode_lists_claims_and_notes(site: Site) -> None:
    main = site.cases["main"]
    identity = site.identity("cas-main")

    async def scenario() -> None:
        async with inbox(DeskThread(lambda: DirectDesk.open(site.root, identity))) as pilot:
            assert [str(k.value) for k in table(pilot).rows] == [main, site.cases["main-2"]]
            assert f"story: {REQUEST_CANARY}" in text_of(pilot, "#detail")
            await pilot.press("c")
            await settle(pilot)
            await pilot.press("n")
            await type_text(pilot, "written on the server")
            await pilot.press("enter")
            await settle(pilot)
            assert cell(pilot, main, "status").plain == "claimed"
            assert "note by cas-main:\n    written on the server" in text_of(pilot, "#detail")

    run(scenario)
    with site.remote("cas-main-2") as colleague:
        assert [e.text for e in colleague.fetch(main).events] == [None, "written on the server"]


# -- the console script in a real pseudo-terminal ----------------------------------------------


def _in_terminal(site: Site, *args: str, until: bytes, passphrase: str = PASSPHRASE,
                 env: dict[str, str] | None = None, keys: bytes = b"") -> tuple[int, str]:
    """Run `waystation ARGS` on an 80x24 pseudo-terminal; once `until` shows, type `keys`; (exit code, output)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    extra = {"WAYSTATION_CONFIG_DIR": str(site.tmp / "config"), "TERM": "xterm-256color", **(env or {})}
    process = subprocess.Popen(waystation_command() + list(args), stdin=slave, stdout=slave, stderr=slave,
                               env=child_env(passphrase, extra), close_fds=True)
    os.close(slave)
    output, sent, deadline = b"", False, time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                output += chunk
            if not sent and until in output:
                os.write(master, keys)
                sent = True
            if process.poll() is not None and not ready:
                break
        returncode = process.wait(60)  # a loaded machine (four test workers) can be slow to start Python
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    return returncode, output.decode("utf-8", "replace")


def test_console_script_runs_the_inbox_in_a_terminal_and_q_quits(site: Site) -> None:
    main = site.cases["main"]
    code, output = _in_terminal(site, "staff", "--server", site.url, "--key", str(site.key_files["cas-main"]), "tui",
                                until=main.encode(), keys=b"q")
    assert code == 0, output
    assert main in output and "first contact with" in output and "Traceback" not in output


def test_console_script_refusals_are_one_line(site: Site) -> None:
    key = str(site.key_files["cas-main"])
    code, output = _in_terminal(site, "staff", "--home", str(site.root), "--key", key, "tui", until=b"Error",
                                passphrase="wrong")
    assert code == 1 and "wrong passphrase" in output and "Traceback" not in output, output
    code, output = _in_terminal(site, "staff", "--home", str(site.root), "--key", key, "tui", until=b"Error",
                                env={"TEXTUAL_LOG": str(site.tmp / "textual.log")})
    assert code == 1 and "TEXTUAL_LOG is set" in output and not (site.tmp / "textual.log").exists(), output
    code, output = _in_terminal(site, "staff", "--home", str(site.root), "--key", str(site.key_files["vol"]), "tui",
                                until=b"Error")
    assert code == 1 and "role volunteer, not caseworker" in output and "Traceback" not in output, output
    piped = run_cli("staff", "--server", site.url, "--key", key, "tui")
    assert_user_error(piped, "needs a terminal")


def test_a_crash_ends_in_one_sentence_without_textuals_traceback_of_local_variables(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: QueueScreen, case_id: str, detail: object, *, failed: bool = False) -> None:
        shown = REQUEST_CANARY  # a local variable Textual's crash report would print  # noqa: F841
        raise RuntimeError("a bug")

    monkeypatch.setattr(QueueScreen, "_show", broken)
    app = Inbox(remote_desk(site, "cas-main"))

    async def scenario() -> None:
        with app.desk:
            async with app.run_test(size=(80, 24)) as pilot:
                await settle(pilot)

    with pytest.raises(RuntimeError, match="a bug"):  # run_test hands the error to the test framework
        run(scenario)
    assert app.failure is not None and "unexpected error" in app.failure
    assert app._exit_renderables == []  # what Textual would print on exit: nothing


def test_textual_settings_that_would_record_the_screen_are_refused() -> None:
    assert unsafe_environment({}) is None
    assert unsafe_environment({"TEXTUAL_SCREENSHOT": "-1", "TEXTUAL": "mono"}) is None
    for environ in ({"TEXTUAL_LOG": "/tmp/x.log"}, {"TEXTUAL_SCREENSHOT": "5"}, {"TEXTUAL": "devtools"},
                    {"TEXTUAL": "mono, debug"}):
        assert unsafe_environment(environ) is not None, environ
