"""Disappearing messages: every message of every chat with the bot is deleted on a JobQueue[Any] timer.

Incoming messages are tracked as they arrive (`track`); every message the bot
sends goes through `bot.tracking.TrackingBot`, which commits a *send intent*
(chat id, the highest message id known there, due time) before the send and,
once Telegram answers, records the returned id and erases the intent in one
write. Pending deletions are in the sealed chat state file (storage.deletions,
HOME/chats.state; not the database, whose pages would keep their write order)
before the timer is set, so a crash or restart still deletes them: `restore`
re-creates the timers on start and runs overdue ones at once. The file keeps due
times rounded up to the time granularity; the timers here are exact.

An intent left over by a crash, a timeout or a network error means a message
may exist whose id was never learnt. Message ids in a private chat only grow,
so it becomes a *sweep*: the SWEEP ids after the intent's floor join the chat's
deletions (deleteMessages skips ids that do not exist), and the next id seen in
that chat (the re-sent alert or notice, or the person's next message) sweeps
the SWEEP ids below it too, which also covers an intent whose floor was unknown.

The delay depends on the chat, decided in one place (`delay_for`): a volunteer's
chat (active, inactive or removed) keeps its messages `[alerts] delete_after_hours`,
any other chat `[privacy] delete_after_seconds` after the last activity.

Fail closed: a chat state that cannot be written (a full disk) never stops a
handler. The ids are kept in memory and deleted on time by the same timer (merged
with the stored ones); only a crash while the disk is full could lose them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import nacl.hash
import nacl.utils
from nacl.encoding import HexEncoder
from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import CallbackContext, JobQueue

from storage.db import DatabaseError
from storage.deletions import DeletionStore, Intent, PendingChat, Settle, new_intent_id
from storage.errors import StorageError

log = logging.getLogger("waystation.bot.vanish")
BATCH = 100  # deleteMessages takes at most 100 ids
RETRY_SECONDS = 30
#: How many ids after a floor (or below a ceiling) an interrupted send is looked for. The gap
#: between the highest id the bot knew and the lost message is the messages created in between
#: without the bot seeing them yet (the person typing fast, concurrent sends): a handful at most.
SWEEP = 10
#: Telegram lets a bot delete a message for 48 hours; an intent older than that is past helping.
DELETE_WINDOW_SECONDS = 48 * 3600
#: At most one "kept in memory" warning per this many seconds (a full disk fails every write).
WARN_EVERY_SECONDS = 60

T = TypeVar("T")


def seconds(value: object) -> int:
    """Whole seconds from an int, float or timedelta (PTB's retry_after is moving to timedelta)."""
    total = getattr(value, "total_seconds", None)
    if callable(total):
        return int(total())
    return int(value) if isinstance(value, int | float) else 5


@dataclass
class _Suspect:
    """A chat where a message may exist that nobody learnt of: the next id seen there sweeps below it."""

    due: int
    until: int
    intent_ids: list[int] = field(default_factory=list)  # earlier intents without a floor, settled by the sweep


class Vanisher:
    """Tracks the messages of every chat and deletes them when their time comes."""

    def __init__(self, store: DeletionStore, delete_after: int, clock: Callable[[], float],
                 volunteer_delete_after: int | None = None) -> None:
        self.store = store
        #: Intake chats: seconds after the last activity ([privacy] delete_after_seconds).
        self.delete_after = delete_after
        #: Volunteer chats ([alerts] delete_after_hours); None: the bot has no volunteer chats.
        self.volunteer_delete_after = volunteer_delete_after
        self.clock = clock
        #: Counts for metrics (set by the service): count("messages_deleted", n), count("send_retries").
        self.count: Callable[..., None] = lambda name, amount=1: None
        # Job names must not carry chat ids (the scheduler may log them): use a keyed hash.
        self._name_key = nacl.utils.random(32)
        self._jobs: JobQueue[Any] | None = None
        # Memory only, per chat, dropped once the chat is emptied:
        self._seen: dict[int, int] = {}            # highest message id known to exist
        self._timers: dict[int, int] = {}          # when the chat's deletion timer fires
        self._unsaved: dict[int, set[int]] = {}    # ids the chat state refused: deleted from here
        self._suspects: dict[int, _Suspect] = {}
        self._closing: dict[int, int] = {}         # chats brought forward (after submit, cancel, /forget)
        self._warned_at = 0.0
        # Group commit: what concurrent sends queue goes to the chat state in one write (one rename).
        self._queued_intents: list[Intent] = []
        self._queued_settles: list[Settle] = []
        self._queued_drops: list[int] = []
        self._committed: asyncio.Future[None] | None = None

    def job_name(self, chat_id: int) -> str:
        """An opaque, per-process job name for one chat's deletion timer."""
        digest = nacl.hash.blake2b(str(chat_id).encode(), key=self._name_key, digest_size=8, encoder=HexEncoder)
        return "vanish-" + digest.decode()

    def delay_for(self, chat_id: int) -> int:
        """Seconds a chat keeps its messages after the last activity: the one place this is decided."""
        if self.volunteer_delete_after is not None and self._volunteer(chat_id):
            return self.volunteer_delete_after
        return self.delete_after

    def _volunteer(self, chat_id: int) -> bool:
        if self.volunteer_delete_after is None:
            return False
        # If the volunteers table cannot be read, the intake delay: deleting sooner is the safe side.
        return self._read(lambda: self.store.volunteer_chat(chat_id), False)

    # -- incoming messages and the conversation ---------------------------------------------------

    def track(self, jobs: JobQueue[Any], chat_id: int, message_ids: Iterable[int]) -> None:
        """Remember incoming messages of a chat and push its countdown back: activity counts."""
        due = int(self.clock()) + self.delay_for(chat_id)
        self._closing.pop(chat_id, None)  # the person is back: the ordinary delay again
        ids = list(message_ids)
        if ids:
            self._see(chat_id, max(ids))
            self._settle(chat_id, due, known=ids, ceiling=max(ids))
            self.flush()  # an incoming message may never come again: its id is written before going on
        # A button press adds no message: only the timer moves. The stored entries keep their
        # earlier due time, so after a restart the chat is deleted sooner, never later: no write needed.
        self._schedule(jobs, chat_id, due)

    def soon(self, jobs: JobQueue[Any], chat_id: int, delay: int) -> None:
        """Bring an intake chat's deletion forward (after submit or cancel); a volunteer chat keeps its delay."""
        if self.volunteer_delete_after is not None and self._volunteer(chat_id):
            # Whatever a volunteer presses, their alerts keep the volunteer delay.
            self._schedule(jobs, chat_id, int(self.clock()) + self.volunteer_delete_after)
            return
        due = int(self.clock()) + delay
        # What the bot sends from now on (the last word: the chat-list hint) shares this due time,
        # so that its send intent and entry never push the stored time back to the ordinary delay.
        self._closing[chat_id] = due
        self.flush()  # the messages just sent are brought forward too
        self._write(lambda: self.store.reschedule(chat_id, due))
        self._schedule(jobs, chat_id, due, sooner=True)

    async def now(self, bot: Bot, jobs: JobQueue[Any], chat_id: int) -> None:
        """Delete everything of a chat at once (/forget)."""
        for job in jobs.get_jobs_by_name(self.job_name(chat_id)):
            job.schedule_removal()
        self._timers.pop(chat_id, None)
        await self._delete(bot, jobs, chat_id)

    def restore(self, jobs: JobQueue[Any]) -> int:
        """On start: turn left-over intents into sweeps, re-create timers; overdue chats are deleted at once."""
        self._jobs = jobs
        now = int(self.clock())
        intents: list[Intent] = self._read(self.store.intents, [])
        stale = [i.id for i in intents if now > i.due_at + DELETE_WINDOW_SECONDS]
        if stale:
            self._write(lambda: self.store.drop_intents(stale))
        live = [i for i in intents if i.id not in stale]
        for intent in live:
            # The lost message was created before anything this run will see: the next id there sweeps below it.
            self._suspect(intent.chat_id, intent.due_at, [] if intent.floor is not None else [intent.id])
            if intent.floor is not None:
                self._settle(intent.chat_id, intent.due_at, swept=_above(intent.floor), intent_ids=[intent.id])
        self.flush()
        if live:
            log.info("%d sends were interrupted before Telegram answered; their chats are swept", len(live))
        pending: list[PendingChat] = self._read(self.store.all, [])
        for chat in pending:
            self._schedule(jobs, chat.chat_id, chat.due_at, sooner=True)
        for intent in live:
            self._schedule(jobs, intent.chat_id, intent.due_at)
        if pending:
            log.info("restored deletion timers for %d chats", len(pending))
        return len(pending)

    # -- sends (called by bot.tracking.TrackingBot around every sendMessage) ----------------------

    async def intend(self, chat_id: int) -> Intent:
        """Commit the intent of a send to a chat; returns once it is written (or the write failed).

        Sends that start together share one write. If the write fails, the send
        still goes and its id is kept in memory: the person gets their answer.
        """
        # Everything this run saw in the chat went through _see: the stored state only knows older (lower) ids.
        floor = self._seen.get(chat_id)
        if floor is None:
            floor = self._read(lambda: self.store.floor(chat_id), None)
        now = int(self.clock())
        closing = self._closing.get(chat_id)
        due = closing if closing is not None and closing >= now else now + self.delay_for(chat_id)
        intent = Intent(new_intent_id(), chat_id, floor, due)
        self._queued_intents.append(intent)
        try:
            await asyncio.shield(self._commit_soon())
        except asyncio.CancelledError:
            self.refused(intent)  # cancelled before sending: nothing was created
            raise
        return intent

    def sent(self, intent: Intent, message_id: int) -> None:
        """Telegram returned the message: its id joins the chat's deletions and the intent goes, in one write.

        That commit may follow a moment later, with other sends' (until then the
        intent covers the message: a crash in between sweeps its id).
        """
        self._see(intent.chat_id, message_id)
        self._settle(intent.chat_id, intent.due_at, known=[message_id], intent_ids=[intent.id], ceiling=message_id)
        self._commit_soon()
        self._schedule(self._jobs, intent.chat_id, intent.due_at)

    def refused(self, intent: Intent) -> None:
        """Telegram refused the send (no message was created): the intent goes."""
        self._queued_drops.append(intent.id)
        self._commit_soon()

    def unresolved(self, intent: Intent) -> None:
        """The outcome is unknown (timeout, network error, cancelled).

        Sweep after the floor now, below the next id later.
        """
        log.warning("a send ended without an answer from Telegram; the ids where it may have landed will be deleted")
        if intent.floor is None:
            self._suspect(intent.chat_id, intent.due_at, [intent.id])  # the intent stays until that next id
            return
        self._suspect(intent.chat_id, intent.due_at, [])
        self._settle(intent.chat_id, intent.due_at, swept=_above(intent.floor), intent_ids=[intent.id])
        self._commit_soon()
        self._schedule(self._jobs, intent.chat_id, intent.due_at)

    def flush(self) -> None:
        """Write what is queued (new intents, settled sends, dropped intents) in one go."""
        intents, settles, drops = self._queued_intents, self._queued_settles, self._queued_drops
        done, self._committed = self._committed, None
        self._queued_intents, self._queued_settles, self._queued_drops = [], [], []
        try:
            batch = partial(self.store.write_batch, intents, settles, drops)
            if (intents or settles or drops) and not self._write(batch):
                for settle in settles:
                    self._keep(settle.chat_id, [*settle.known, *(i for i in settle.swept if i > 0)])
        finally:
            if done is not None and not done.done():
                done.set_result(None)  # whatever happened, no send waits for ever

    def _commit_soon(self) -> asyncio.Future[None]:
        """Resolved once what is queued is committed: after the sends ready to run now have queued theirs."""
        loop = asyncio.get_running_loop()
        if self._committed is not None and self._committed.get_loop() is not loop:
            self.flush()  # queued under an event loop that has gone (tests run several in turn)
        if self._committed is None:
            self._committed = loop.create_future()
            loop.call_soon(self.flush)
        return self._committed

    # -- bookkeeping --------------------------------------------------------------------------------

    def _see(self, chat_id: int, message_id: int) -> None:
        if message_id > self._seen.get(chat_id, 0):
            self._seen[chat_id] = message_id

    def _suspect(self, chat_id: int, due: int, intent_ids: list[int]) -> None:
        suspect = self._suspects.get(chat_id)
        if suspect is None:
            self._suspects[chat_id] = _Suspect(due, due + DELETE_WINDOW_SECONDS, list(intent_ids))
        else:
            suspect.due, suspect.until = max(suspect.due, due), max(suspect.until, due + DELETE_WINDOW_SECONDS)
            suspect.intent_ids.extend(intent_ids)

    def _settle(self, chat_id: int, due: int, *, known: Iterable[int] = (), swept: Iterable[int] = (),
                intent_ids: Iterable[int] = (), ceiling: int | None = None) -> None:
        """Queue ids for a chat's deletions (and intents they settle); kept in memory if the commit fails."""
        known, swept, intent_ids = list(known), list(swept), list(intent_ids)
        suspect = self._suspects.pop(chat_id, None) if ceiling is not None else None
        if suspect is not None and ceiling is not None:
            if int(self.clock()) <= suspect.until:
                swept += range(max(1, ceiling - SWEEP), ceiling)
                due = max(due, suspect.due)
            intent_ids += suspect.intent_ids
        self._queued_settles.append(Settle(chat_id, due, tuple(known), tuple(swept), tuple(intent_ids)))

    def _keep(self, chat_id: int, ids: list[int]) -> None:
        """Ids the chat state refused: deleted from memory by the chat's timer."""
        self._unsaved.setdefault(chat_id, set()).update(ids)
        self.count("deletions_unsaved", len(ids))
        now = self.clock()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("the chat state cannot be written: message ids are kept in memory and still deleted on "
                        "time (%d chats now); free disk space, a restart meanwhile would lose them",
                        len(self._unsaved))

    def _write(self, action: Callable[[], None]) -> bool:
        try:
            action()
        except (StorageError, DatabaseError) as err:
            log.debug("deletion bookkeeping not written (%s)", type(err).__name__)
            return False
        return True

    def _read(self, action: Callable[[], T], fallback: T) -> T:
        try:
            return action()
        except (StorageError, DatabaseError) as err:
            log.warning("deletion bookkeeping could not be read (%s)", type(err).__name__)
            return fallback

    # -- timers and deletion ------------------------------------------------------------------------

    def _schedule(self, jobs: JobQueue[Any] | None, chat_id: int, due: int, *, sooner: bool = False) -> None:
        """(Re)set a chat's timer to `due`; never earlier than it was set unless `sooner`."""
        if jobs is None:
            return  # before start: the entries are stored and `restore` sets the timer
        name = self.job_name(chat_id)
        current = self._timers.get(chat_id)
        if not sooner and current is not None and current >= due and jobs.get_jobs_by_name(name):
            return
        for job in jobs.get_jobs_by_name(name):
            job.schedule_removal()
        jobs.run_once(self._job, when=max(0.0, due - self.clock()), data=chat_id, name=name)
        self._timers[chat_id] = due

    async def _job(self, context: CallbackContext[Any, Any, Any, Any]) -> None:
        job = context.job
        if job is None or not isinstance(job.data, int):
            return
        self._timers.pop(job.data, None)
        await self._delete(context.bot, context.job_queue, job.data)  # type: ignore[arg-type]
        self._expire_suspects()

    def _expire_suspects(self) -> None:
        """Forget suspects past Telegram's deletion window, and their intents: nothing there can be deleted now."""
        now = int(self.clock())
        expired = [chat_id for chat_id, suspect in self._suspects.items() if now > suspect.until]
        self._queued_drops += [i for chat_id in expired for i in self._suspects.pop(chat_id).intent_ids]
        self.flush()

    async def _delete(self, bot: Bot, jobs: JobQueue[Any], chat_id: int) -> None:
        self.flush()  # ids of sends settled a moment ago are stored
        pending = self._read(lambda: self.store.chat(chat_id), None)
        stored = set(pending.message_ids) if pending is not None else set()
        ids = sorted(stored | self._unsaved.get(chat_id, set()))
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            try:
                await bot.delete_messages(chat_id, batch)
            except (BadRequest, Forbidden):
                # Already gone, too old (48 h) or the person blocked the bot: nothing more can be done.
                log.info("deletion of %d messages refused by the Bot API; dropping them", len(batch))
            except RetryAfter as err:
                self._retry(jobs, chat_id, seconds(err.retry_after) + 1)
                return
            except TelegramError:
                log.warning("deletion failed (network or server); retrying in %d s", RETRY_SECONDS)
                self._retry(jobs, chat_id, RETRY_SECONDS)
                return
            self.count("messages_deleted", len(batch))
            self._forget_ids(chat_id, batch)
            rows = [i for i in batch if i in stored]
            if rows and not self._write(partial(self.store.remove, chat_id, rows)):
                # The messages are gone but their entries stay: try again (deleting twice is harmless).
                self._retry(jobs, chat_id, RETRY_SECONDS)
                return
        if self._seen.get(chat_id, 0) <= (ids[-1] if ids else 0) and chat_id not in self._unsaved:
            self._seen.pop(chat_id, None)  # nothing newer seen meanwhile: keep no trace of the chat
            if self._closing.get(chat_id, 0) <= int(self.clock()):
                self._closing.pop(chat_id, None)

    def _forget_ids(self, chat_id: int, ids: list[int]) -> None:
        unsaved = self._unsaved.get(chat_id)
        if unsaved is not None:
            unsaved.difference_update(ids)
            if not unsaved:
                del self._unsaved[chat_id]

    def _retry(self, jobs: JobQueue[Any], chat_id: int, delay: int) -> None:
        self.count("send_retries")
        due = int(self.clock()) + delay
        self._write(lambda: self.store.reschedule(chat_id, due))
        self._schedule(jobs, chat_id, due, sooner=True)


def _above(floor: int) -> range:
    """The ids an interrupted send may have taken, after the highest one known."""
    return range(floor + 1, floor + SWEEP + 1)
