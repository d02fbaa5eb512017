"""The daily digest, and the retention run: warning, purge (recent activity kept), flag, vacuum."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bot import texts
from storage.cases import EventKind
from storage.errors import CaseNotFound
from tests.alerts.conftest import WorldFactory
from tests.alerts.harness import TR
from tests.alerts.pages import decrypted_pages
from tests.bot.harness import Person, wait_until

MINUTE, DAY = 60, 86_400


def _with_text(person: Person, candidates: set[str], timeout: float = 10.0) -> str:
    """Wait for a bot message whose text is one of `candidates`."""
    return str(wait_until(lambda: next((m["text"] for m in person.bot_messages() if m["text"] in candidates), None),
                          timeout, what=f"one of {sorted(candidates)[:2]}..."))


def test_daily_digest_per_queue_counts_new_claimed_closed_and_the_oldest_wait(world: WorldFactory) -> None:
    at = datetime.fromtimestamp(time.time() + 2 * MINUTE, UTC).strftime("%H:%M")
    w = world(alerts={"digest_at": at, "timezone": "UTC"})
    russian, english, other = w.volunteer("ru"), w.volunteer("en"), w.volunteer("es", queues=("other",))
    waiting, claimed, closed = w.case(), w.case(), w.case()
    with w.server() as server:
        server.cases.claim(claimed, "cas-main", w.now())
        server.cases.close(closed, "cas-main", w.now())
        created = server.cases.fetch(waiting).created_at
    w.clock.advance(4 * MINUTE)
    w.tick()
    ages = range((w.now() - created) // MINUTE - 1, (w.now() - created) // MINUTE + 3)
    for person, language in ((russian, "ru"), (english, "en")):
        expected = {TR.gettext(language, texts.DIGEST).format(
            queue="main", new=3, claimed=1, closed=1, oldest=TR.gettext(language, texts.AGE_MINUTES).format(count=a))
            for a in ages}
        _with_text(person, expected)
    _with_text(other, {TR.gettext("es", texts.DIGEST).format(
        queue="other", new=0, claimed=0, closed=0, oldest=TR.gettext("es", texts.DIGEST_NONE_WAITING))})
    w.clock.advance(10 * MINUTE)  # the next digest is tomorrow
    w.tick()
    digest_start = TR.gettext("en", texts.DIGEST).split("{", 1)[0]
    assert sum(digest_start in (m["text"] or "") for m in english.bot_messages()) == 1


def test_retention_warns_admins_purges_quiet_closed_cases_keeps_recent_ones_and_vacuums(world: WorldFactory) -> None:
    w = world(retention={"closed_case_days": 3, "warn_days": 1, "recent_activity_days": 7, "unclaimed_days": 1})
    admin = w.volunteer(admin_notices=True)
    ordinary = w.volunteer()
    purged, kept, waiting = w.case(), w.case(), w.case()
    with w.server() as server:
        for case_id in (purged, kept):
            server.cases.close(case_id, "cas-main", w.now())
        row = server.db.conn.execute("SELECT ref_hash, envelope FROM cases WHERE id = ?", (purged,)).fetchone()
        canaries = [bytes(row[0]), bytes(row[1])[200:232]]  # random bytes that exist only in this case's row
        kept_row = server.db.conn.execute("SELECT ref_hash FROM cases WHERE id = ?", (kept,)).fetchone()
        key = server.home.db_key({})
    # the method sees them before: the same search must find what is there
    w.bot.stop()
    before = b"".join(decrypted_pages(w.staffed.root / "waystation.db", key))
    assert all(canary in before for canary in canaries)
    w.restart()

    w.clock.advance(2 * DAY + 60 * MINUTE)  # day 2: the warning run
    w.tick()
    dates = {datetime.fromtimestamp(w.now() + DAY - s, UTC).strftime("%Y-%m-%d") for s in (0, 60)}
    _with_text(admin, {TR.ngettext("en", texts.NOTICE_PURGE, 2).format(count=2, date=d) for d in dates})
    # One request: the singular form ("1 request has been waiting"), not "1 requests".
    _with_text(admin, {TR.ngettext("en", texts.NOTICE_UNCLAIMED, 1).format(count=1, days=1)})
    with w.server() as server:
        server.cases.fetch(purged)  # announced, not purged yet
        server.cases.add_event(kept, EventKind.NOTE, "cas-main", w.now())  # recent activity keeps it this time

    w.clock.advance(DAY + 60 * MINUTE)  # day 3: the purge run
    w.tick()

    def gone() -> bool:
        with w.server() as server:
            try:
                server.cases.fetch(purged)
            except CaseNotFound:
                return "db.vacuumed" in [a.action for a in server.cases.audit_log()]
            return False

    wait_until(gone, 10, what="the purge and the vacuum")
    w.bot.stop()
    with w.server() as server:
        server.cases.fetch(kept)
        server.cases.fetch(waiting)
        assert "case.purged" in [a.action for a in server.cases.audit_log(purged)]
        assert server.db.conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    wal = w.staffed.root / "waystation.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    texts_seen = " ".join(m["text"] or "" for m in ordinary.bot_messages())
    assert "will be deleted" not in texts_seen and "without being picked up" not in texts_seen  # admins only
    after = b"".join(decrypted_pages(w.staffed.root / "waystation.db", key))
    assert bytes(kept_row[0]) in after  # the search still works on what was kept
    for canary in canaries:
        assert canary not in after
