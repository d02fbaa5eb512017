"""Disappearing messages: every message of an intake chat is deleted on a JobQueue timer.

Pending deletions (chat id, message ids, due time) are written to the
encrypted database before the timer is set, so a crash or restart still
deletes them: `restore` re-creates the timers on start and runs overdue ones
at once. Rows are erased as soon as Telegram confirms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import nacl.hash
import nacl.utils
from nacl.encoding import HexEncoder
from telegram import Bot
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import CallbackContext, JobQueue

from storage.deletions import DeletionStore

log = logging.getLogger("waystation.bot.vanish")
BATCH = 100  # deleteMessages takes at most 100 ids
RETRY_SECONDS = 30


def seconds(value: object) -> int:
    """Whole seconds from an int, float or timedelta (PTB's retry_after is moving to timedelta)."""
    total = getattr(value, "total_seconds", None)
    if callable(total):
        return int(total())
    return int(value) if isinstance(value, int | float) else 5


class Vanisher:
    """Tracks the messages of intake chats and deletes them when their time comes."""

    def __init__(self, store: DeletionStore, delete_after: int, clock: Callable[[], float]) -> None:
        self.store = store
        self.delete_after = delete_after
        self.clock = clock
        #: Counts for metrics (set by the service): count("messages_deleted", n), count("send_retries").
        self.count: Callable[..., None] = lambda name, amount=1: None
        # Job names must not carry chat ids (the scheduler may log them): use a keyed hash.
        self._name_key = nacl.utils.random(32)

    def job_name(self, chat_id: int) -> str:
        """An opaque, per-process job name for one chat's deletion timer."""
        digest = nacl.hash.blake2b(str(chat_id).encode(), key=self._name_key, digest_size=8, encoder=HexEncoder)
        return "vanish-" + digest.decode()

    def track(self, jobs: JobQueue, chat_id: int, message_ids: Iterable[int], delay: int | None = None) -> None:
        """Remember messages of a chat and (re)start its countdown: activity pushes deletion back."""
        due = int(self.clock()) + (self.delete_after if delay is None else delay)
        ids = list(message_ids)
        if ids:
            self.store.record(chat_id, ids, due)
        # A button press adds no message: only the timer moves. The row keeps its earlier due
        # time, so after a restart the chat is deleted sooner, never later: no commit needed.
        self._schedule(jobs, chat_id, due)

    def soon(self, jobs: JobQueue, chat_id: int, delay: int) -> None:
        """Bring a chat's deletion forward (after submit or cancel)."""
        due = int(self.clock()) + delay
        self.store.reschedule(chat_id, due)
        self._schedule(jobs, chat_id, due)

    async def now(self, bot: Bot, jobs: JobQueue, chat_id: int) -> None:
        """Delete everything of a chat at once (/forget)."""
        for job in jobs.get_jobs_by_name(self.job_name(chat_id)):
            job.schedule_removal()
        await self._delete(bot, jobs, chat_id)

    def restore(self, jobs: JobQueue) -> int:
        """Re-create timers from the database on start; overdue chats are deleted at once."""
        pending = self.store.all()
        for chat in pending:
            self._schedule(jobs, chat.chat_id, chat.due_at)
        if pending:
            log.info("restored deletion timers for %d chats", len(pending))
        return len(pending)

    def _schedule(self, jobs: JobQueue, chat_id: int, due: int) -> None:
        name = self.job_name(chat_id)
        for job in jobs.get_jobs_by_name(name):
            job.schedule_removal()
        jobs.run_once(self._job, when=max(0.0, due - self.clock()), data=chat_id, name=name)

    async def _job(self, context: CallbackContext) -> None:  # type: ignore[type-arg]
        job = context.job
        if job is None or not isinstance(job.data, int):
            return
        await self._delete(context.bot, context.job_queue, job.data)  # type: ignore[arg-type]

    async def _delete(self, bot: Bot, jobs: JobQueue, chat_id: int) -> None:
        pending = self.store.chat(chat_id)
        if pending is None:
            return
        ids = list(pending.message_ids)
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
            self.store.remove(chat_id, batch)
            self.count("messages_deleted", len(batch))

    def _retry(self, jobs: JobQueue, chat_id: int, delay: int) -> None:
        self.count("send_retries")
        due = int(self.clock()) + delay
        self.store.reschedule(chat_id, due)
        self._schedule(jobs, chat_id, due)
