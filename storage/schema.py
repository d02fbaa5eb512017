"""Schema migrations. The database records its version in PRAGMA user_version."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: the case queue, its events, the reply outbox, the audit log.
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE cases (
        id          TEXT PRIMARY KEY,
        queue       TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('new', 'claimed', 'closed')),
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        claimed_by  TEXT,
        claimed_at  INTEGER,
        closed_at   INTEGER,
        ref_hash    BLOB UNIQUE,
        envelope    BLOB NOT NULL
    ) STRICT;
    CREATE INDEX cases_by_queue ON cases (queue, status, created_at);

    CREATE TABLE case_events (
        id          INTEGER PRIMARY KEY,
        case_id     TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
        kind        TEXT NOT NULL CHECK (kind IN
                        ('claim', 'note', 'follow_up', 'reply', 'close', 'reopen', 'ack')),
        actor       TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        envelope    BLOB
    ) STRICT;
    CREATE INDEX case_events_by_case ON case_events (case_id, id);

    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY,
        case_id         TEXT REFERENCES cases (id) ON DELETE CASCADE,
        created_at      INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        envelope        BLOB NOT NULL
    ) STRICT;

    CREATE TABLE audit (
        id       INTEGER PRIMARY KEY,
        at       INTEGER NOT NULL,
        actor    TEXT NOT NULL,
        action   TEXT NOT NULL,
        case_id  TEXT
    ) STRICT;
    CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_is_append_only_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # 2: messages of intake chats still to be deleted (chat id and message ids only;
    # never linked to a case). Rebuilt into timers when the bot starts.
    """
    CREATE TABLE pending_deletions (
        chat_id     INTEGER NOT NULL,
        message_id  INTEGER NOT NULL,
        due_at      INTEGER NOT NULL,
        PRIMARY KEY (chat_id, message_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX pending_deletions_by_due ON pending_deletions (due_at);
    """,
    # 3: INSERT OR REPLACE deletes without firing DELETE triggers; refuse reusing an audit id.
    """
    CREATE TRIGGER audit_is_append_only_replace BEFORE INSERT ON audit
        WHEN EXISTS (SELECT 1 FROM audit WHERE id = NEW.id)
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # 4: replies waiting for the bot (notified_at: the discreet notice was accepted by Telegram),
    # and nonces of signed staff requests, kept for the signature window to refuse replays.
    """
    ALTER TABLE outbox ADD COLUMN notified_at INTEGER;
    CREATE TABLE request_nonces (
        nonce    TEXT PRIMARY KEY,
        seen_at  INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX request_nonces_by_time ON request_nonces (seen_at);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
