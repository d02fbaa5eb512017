"""A volunteer chat's deletion time must not give away when an alert's case came in."""

from __future__ import annotations

from bot.app import FORGET_JOB
from storage.deletions import DeletionStore
from tests.alerts.conftest import WorldFactory
from tests.alerts.harness import wait_for_count
from tests.bot.harness import wait_until


def test_an_alerts_deletion_time_is_counted_from_the_end_of_its_time_bucket(world: WorldFactory) -> None:
    w = world()
    volunteer = w.volunteer()
    case_id = w.case()
    wait_for_count(volunteer, case_id, 1)
    with w.server() as server:
        granularity = server.config.privacy.time_granularity_seconds
        delete_after = server.config.alerts.delete_after_hours * 3600

        def alert_tracked() -> bool:
            pending = DeletionStore(server.db).chat(volunteer.chat_id)
            return pending is not None and len(pending.message_ids) >= 2  # the welcome and the alert

        wait_until(alert_tracked, 10, what="the alert to be scheduled for deletion")
        pending = DeletionStore(server.db).chat(volunteer.chat_id)
        assert pending is not None
        # The alert's message id is kept with its case; its deletion time must be no finer than the case's times.
        assert (pending.due_at - delete_after) % granularity == 0
        assert pending.due_at >= w.now() + delete_after - granularity


def test_the_bot_keeps_its_disk_hygiene_job(world: WorldFactory) -> None:
    w = world()
    application = w.bot.application
    assert application is not None and application.job_queue is not None
    jobs = application.job_queue
    assert [job.name for job in w.bot.call(lambda: list(jobs.jobs())) if job.name == FORGET_JOB] == [FORGET_JOB]
    with w.server() as server:  # its first run filled the pool of shuffled free pages
        wait_until(lambda: int(server.db.conn.execute("PRAGMA freelist_count").fetchone()[0]) > 0, 10,
                   what="the free-page pool")
