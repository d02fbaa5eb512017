"""The inbox: a queue table, the decrypted case with its history, and keys to work on it.

Keys (shown in the footer): c claim, n note, r reply (warned and confirmed: the
person receives it), x close (confirmed), o reopen, F5 or g refresh, q quit.
Every call to the desk runs in a worker, off the terminal's event loop; a
refusal or a network failure is one line in the notice bar, never a crash.

Nothing decrypted leaves memory: no log, no screenshot, no command palette (it
offers "save screenshot"), no text selection to a clipboard, and Textual's
crash report (a traceback with local variables) is replaced by one sentence.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from crypto.errors import CryptoError
from model.cases import CaseId
from model.text import clean_text
from model.views import CaseView
from staff.casework import NOTE_MAX_CHARS, REPLY_MAX_CHARS, CaseDetail
from staff.desk import Desk
from staff.errors import ChangeRefused, StaffError
from staff.remote import safe_text
from staff.tui.desk import DeskThread
from staff.tui.dialogs import Confirm, TextPrompt
from staff.tui.views import COLUMNS, case_text, row

EXPECTED_ERRORS = (StaffError, CryptoError)


def describe(err: BaseException) -> str:
    """One sentence for the notice bar; unexpected errors by type only (a message could quote content)."""
    if isinstance(err, EXPECTED_ERRORS):
        return str(err)
    return f"unexpected failure ({type(err).__name__}): the action may not have happened; press F5 to see"


class QueueScreen(Screen[None]):
    """The queue table above, the selected case below, the notice bar and the keys at the bottom."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "claim", "Claim"),
        Binding("n", "note", "Note"),
        Binding("r", "reply", "Reply"),
        Binding("x", "close_case", "Close"),
        Binding("o", "reopen", "Reopen"),
        Binding("f5", "refresh", "Refresh"),
        Binding("g", "refresh", "Refresh", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, desk: DeskThread, clock: Callable[[], float]) -> None:
        super().__init__()
        self.desk = desk
        self.clock = clock
        self.views: dict[CaseId, CaseView] = {}
        self.current: CaseId | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="where")
        yield DataTable(id="queue", cursor_type="row", zebra_stripes=False)
        with VerticalScroll(id="case"):
            yield Static(Text("loading your queues...", style="dim"), id="detail")
        yield Static(id="notice")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label, width in COLUMNS:
            table.add_column(label, width=width, key=key)
        self._title(None)
        if self.desk.desk.greeting:  # first contact: the pinned fingerprints, to compare with an admin
            self.say(self.desk.desk.greeting)
        self.reload(verify_roster=False)  # the desk has just verified it

    # -- showing ---------------------------------------------------------------------

    def _title(self, count: int | None) -> None:
        desk = self.desk.desk
        counted = "" if count is None else f" - {count} case{'s' if count != 1 else ''}"
        self.query_one("#where", Static).update(Text(f"{safe_text(desk.me, 64)} @ {safe_text(desk.where, 60)}"
                                                     f"{counted}", style="bold"))

    def say(self, message: str, *, error: bool = False) -> None:
        """One line in the notice bar; errors are marked in words, not only in colour."""
        text = Text(f"Error: {message}", style="bold red") if error else Text(message)
        self.query_one("#notice", Static).update(text)

    def fail(self, err: BaseException) -> None:
        self.say(describe(err), error=True)

    def _fill(self, views: list[CaseView]) -> None:
        table = self.query_one(DataTable)
        keep = self.current
        self.views = {v.case.id: v for v in views}
        now = int(self.clock())
        table.clear()
        for view in views:
            table.add_row(*row(view, now), key=view.case.id)
        self._title(len(views))
        if not views:
            self.current = None
            self.query_one("#detail", Static).update(Text("no cases in your queues", style="dim"))
        elif keep in self.views:
            table.move_cursor(row=table.get_row_index(keep))

    def _update_row(self, view: CaseView) -> None:
        table = self.query_one(DataTable)
        if view.case.id not in table.rows:
            return
        for (key, _, _), cell in zip(COLUMNS, row(view, int(self.clock())), strict=True):
            table.update_cell(view.case.id, key, cell)

    def _show(self, case_id: CaseId, detail: CaseDetail | None, *, failed: bool = False) -> None:
        view = detail.view if detail is not None else self.views[case_id]
        shown = case_text(view, None if detail is None else detail.events, loading_failed=failed)
        self.query_one("#detail", Static).update(shown)

    @on(DataTable.RowHighlighted)
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        case_id = CaseId(str(event.row_key.value))
        if case_id not in self.views:
            return
        if case_id != self.current:
            self.query_one("#case", VerticalScroll).scroll_home(animate=False)
        self.current = case_id
        self._show(case_id, None)
        self._work(lambda: self._load_detail(case_id), "detail", exclusive=True)

    # -- talking to the desk --------------------------------------------------------------

    def _work(self, job: Callable[[], Awaitable[None]], group: str, *, exclusive: bool = False) -> None:
        """Run `job()` in a worker; whatever it raises becomes one line in the notice bar."""

        async def guarded() -> None:
            try:
                await job()
            except Exception as err:  # noqa: BLE001 - the inbox stays usable; describe() words it
                self.fail(err)

        self.run_worker(guarded(), group=group, exclusive=exclusive, exit_on_error=False)

    def reload(self, *, verify_roster: bool = True) -> None:
        """List every case of my queues (all decrypted), after verifying the roster again."""

        def work(desk: Desk) -> list[CaseView]:
            if verify_roster:
                desk.refresh()
            return desk.list()

        async def job() -> None:
            self._fill(await self.desk.call(work))

        self._work(job, "list", exclusive=True)

    async def _load_detail(self, case_id: CaseId) -> None:
        try:
            detail = await self.desk.call(lambda desk: desk.detail(case_id))
        except Exception:
            if self.current == case_id:
                self._show(case_id, None, failed=True)
            raise
        self.views[case_id] = detail.view
        self._update_row(detail.view)
        if self.current == case_id:
            self._show(case_id, detail)

    def _change(self, case_id: CaseId, doing: str, done: str, work: Callable[[Desk], object]) -> None:
        async def change() -> None:
            self.say(f"{doing} {case_id}...")
            try:
                await self.desk.call(work)
            except ChangeRefused as err:  # someone else changed the case: show it as it is now
                self.fail(err)
                await self._load_detail(case_id)
                return
            self.say(f"{done} {case_id}")
            await self._load_detail(case_id)

        self._work(change, "change")

    def _selected(self) -> CaseId | None:
        if self.current is None:
            self.say("select a case first", error=True)
        return self.current

    # -- keys -------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.say("refreshing...")
        self.reload()

    def action_claim(self) -> None:
        if (case_id := self._selected()) is not None:
            self._change(case_id, "claiming", "claimed", lambda desk: desk.claim(case_id))

    def action_reopen(self) -> None:
        if (case_id := self._selected()) is not None:
            self._change(case_id, "reopening", "reopened", lambda desk: desk.reopen(case_id))

    def action_close_case(self) -> None:
        if (case_id := self._selected()) is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._change(case_id, "closing", "closed", lambda desk: desk.close(case_id))
            else:
                self.say(f"{case_id} left open")

        question = Text(f"Close case {case_id}?\n", style="bold")
        question.append("It leaves the open queue; it can be reopened with o.", style="")
        self.app.push_screen(Confirm(question), answered)

    def action_note(self) -> None:
        if (case_id := self._selected()) is None:
            return
        queue = safe_text(self.views[case_id].case.queue, 64)

        def written(text: str | None) -> None:
            if text is None or not text.strip():
                self.say("no note added")
                return
            self._change(case_id, "adding a note to", "note added to", lambda desk: desk.note(case_id, text))

        explanation = Text(f"Encrypted to the caseworkers of queue {queue}; the server cannot read it.")
        self.app.push_screen(TextPrompt(f"Note on case {case_id}", explanation, NOTE_MAX_CHARS), written)

    def action_reply(self, value: str = "") -> None:
        if (case_id := self._selected()) is None:
            return

        def written(text: str | None) -> None:
            if text is None or not text.strip():
                self.say("no reply sent")
                return

            def answered(yes: bool | None) -> None:
                if yes:
                    self._change(case_id, "sending a reply to", "reply queued for the bot, case",
                                 lambda desk: desk.reply(case_id, text))
                else:
                    self.action_reply(text)  # back to the text, to change it or press Escape

            question = Text("Send this reply to the person now?\n", style="bold")
            question.append("They will read it in Telegram once they send the bot their reference "
                            "(unread replies are erased after some days):\n", style="")
            question.append(clean_text(text)[:300], style="italic")
            self.app.push_screen(Confirm(question), answered)

        explanation = Text("THE PERSON WILL RECEIVE THIS MESSAGE", style="bold reverse")
        explanation.append(" through the bot, behind a neutral notice, when they give their reference. Write "
                           "nothing that would endanger them if someone else reads their phone.", style="bold")
        self.app.push_screen(TextPrompt(f"Reply to the person behind case {case_id}", explanation,
                                        REPLY_MAX_CHARS, value), written)


class Inbox(App[None]):
    """`waystation staff tui`: one caseworker's queues, over a desk that is already open."""

    TITLE = "Waystation inbox"
    ENABLE_COMMAND_PALETTE = False  # its system commands include "save screenshot" (decrypted text to disk)
    ALLOW_SELECT = False  # selected text goes to the clipboard, which clipboard managers keep
    CSS = """
    #where { height: 1; padding: 0 1; background: $boost; }
    #queue { height: auto; max-height: 11; }
    #case { height: 1fr; padding: 0 1; border-top: solid $primary; }
    #notice { height: 1; padding: 0 1; background: $boost; }
    .dialog { width: 76; max-width: 100%; height: auto; border: thick $primary; padding: 0 1; margin: 2 1;
              background: $surface; }
    """

    def __init__(self, desk: DeskThread, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.desk = desk
        self.clock = clock
        self.failure: str | None = None

    def get_default_screen(self) -> Screen[None]:
        return QueueScreen(self.desk, self.clock)

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        self.bell()  # never: a screenshot would write decrypted text to disk

    def _fatal_error(self) -> None:
        # Textual would print a traceback with local variables, which can hold decrypted text.
        self.failure = "the inbox stopped after an unexpected error; nothing was written to disk"
        self._close_messages_no_wait()


def unsafe_environment(environ: Mapping[str, str]) -> str | None:
    """Why Textual, as configured by these variables, would record the screen; None if it would not."""
    features = {f.strip().lower() for f in environ.get("TEXTUAL", "").split(",")}
    if environ.get("TEXTUAL_LOG"):
        return "TEXTUAL_LOG is set: Textual would append everything it logs to that file"
    if environ.get("TEXTUAL_SCREENSHOT", "-1").strip() not in ("", "-1"):
        return "TEXTUAL_SCREENSHOT is set: Textual would save the screen to a file"
    if features & {"devtools", "debug"}:
        return "TEXTUAL enables devtools or debug: Textual would send or print what it shows"
    return None
