"""The desk migration (issue 12) rebuilds case_events for assignments and tags without losing a row."""

from __future__ import annotations

import os
from pathlib import Path

from storage import db as dbmodule
from storage.cases import CaseStore, EventKind
from storage.db import Database, connect
from storage.schema import MIGRATIONS, SCHEMA_VERSION

T = 1_700_000_123


def test_the_desk_migration_keeps_every_event_and_the_outbox_rows_that_point_at_them(tmp_path: Path) -> None:
    path, key = tmp_path / "old.db", dbmodule.DatabaseKey(os.urandom(32))
    path.touch(mode=0o600)
    conn = connect(path, key)
    db = Database(path, conn)  # registers the SQL functions older migrations use
    version = next(i for i, script in enumerate(MIGRATIONS) if "case_events_desk" in script)
    for script in MIGRATIONS[:version]:
        for statement in dbmodule._statements(script):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    # Rows as the code before this migration wrote them (today's code writes the new columns).
    conn.execute("INSERT INTO cases (rowid, id, queue, status, created_at, updated_at, envelope)"
                 " VALUES (77, 'case-aaaaaaaaaa', 'main', 'claimed', ?, ?, x'00')", (T, T))
    for event_id, kind, envelope, delivery in ((901, "claim", None, None), (5, "note", b"note", None),
                                               (3003, "reply", b"copy", "queued")):
        conn.execute("INSERT INTO case_events (id, case_id, kind, actor, created_at, envelope, delivery)"
                     " VALUES (?, 'case-aaaaaaaaaa', ?, 'cas', ?, ?, ?)", (event_id, kind, T, envelope, delivery))
    conn.execute("INSERT INTO outbox (id, case_id, created_at, next_attempt_at, envelope, delivery, event_id, seq)"
                 " VALUES (42, 'case-aaaaaaaaaa', ?, ?, x'01', x'02', 3003, 1)", (T, T))
    events = conn.execute("SELECT id, kind, actor, created_at, envelope, delivery, seq FROM case_events"
                          " ORDER BY seq").fetchall()
    outbox = conn.execute("SELECT * FROM outbox").fetchall()
    assert outbox and len(events) == 3
    conn.close()

    db = Database.open(path, key)
    try:
        assert db.schema_version == SCHEMA_VERSION
        after = db.conn.execute("SELECT id, kind, actor, created_at, envelope, delivery, seq FROM case_events"
                                " ORDER BY seq").fetchall()
        assert after == events
        assert db.conn.execute("SELECT * FROM outbox").fetchall() == outbox
        assert db.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        store = CaseStore(db)
        store.assign("case-aaaaaaaaaa", "cas", "cas-2", T + 10)
        store.add_event("case-aaaaaaaaaa", EventKind.TAG, "cas", T + 10, b"sealed-tag")
        kinds = [(e.kind, e.subject) for e in store.events("case-aaaaaaaaaa")]
        assert kinds[-2:] == [(EventKind.ASSIGN, "cas-2"), (EventKind.TAG, None)]
        assert store.fetch("case-aaaaaaaaaa").assigned_to == "cas-2"
    finally:
        db.close()
