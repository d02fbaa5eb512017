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
    # 5: volunteers (chat id, queues, tier, quiet hours: staff, never linked to a person's chat),
    # one-time invitation codes (only their keyed hash), each case's alerting state (alert-safe
    # answers sealed to the bot's key, escalation deadline, who acknowledged it) and every message
    # owed to a volunteer (so that no alert is lost across failures and restarts).
    """
    CREATE TABLE volunteers (
        id               INTEGER PRIMARY KEY,
        chat_id          INTEGER NOT NULL UNIQUE,
        label            TEXT NOT NULL DEFAULT '',
        language         TEXT NOT NULL DEFAULT 'en',
        tier             INTEGER NOT NULL DEFAULT 1 CHECK (tier IN (1, 2)),
        admin_notices    INTEGER NOT NULL DEFAULT 0 CHECK (admin_notices IN (0, 1)),
        quiet_start      INTEGER CHECK (quiet_start BETWEEN 0 AND 1439),
        quiet_end        INTEGER CHECK (quiet_end BETWEEN 0 AND 1439),
        timezone         TEXT NOT NULL DEFAULT 'UTC',
        active           INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        inactive_reason  TEXT,
        enrolled_at      INTEGER NOT NULL,
        invited_by       TEXT NOT NULL
    ) STRICT;

    CREATE TABLE volunteer_queues (
        volunteer_id  INTEGER NOT NULL REFERENCES volunteers (id) ON DELETE CASCADE,
        queue         TEXT NOT NULL,
        PRIMARY KEY (volunteer_id, queue)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX volunteer_queues_by_queue ON volunteer_queues (queue);

    CREATE TABLE volunteer_invites (
        code_hash      BLOB PRIMARY KEY,
        queues         TEXT NOT NULL,
        label          TEXT NOT NULL DEFAULT '',
        tier           INTEGER NOT NULL CHECK (tier IN (1, 2)),
        admin_notices  INTEGER NOT NULL CHECK (admin_notices IN (0, 1)),
        quiet_start    INTEGER,
        quiet_end      INTEGER,
        timezone       TEXT NOT NULL,
        invited_by     TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE case_alerts (
        case_id      TEXT PRIMARY KEY REFERENCES cases (id) ON DELETE CASCADE,
        answers      BLOB,
        round        INTEGER NOT NULL DEFAULT 0,
        next_at      INTEGER,
        acked_by     INTEGER REFERENCES volunteers (id) ON DELETE SET NULL,
        acked_at     INTEGER,
        finished_at  INTEGER,
        created_at   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX case_alerts_open ON case_alerts (finished_at, next_at);

    CREATE TABLE volunteer_messages (
        id               INTEGER PRIMARY KEY,
        volunteer_id     INTEGER NOT NULL REFERENCES volunteers (id) ON DELETE CASCADE,
        kind             TEXT NOT NULL CHECK (kind IN ('alert', 'reminder', 'digest', 'notice')),
        case_id          TEXT REFERENCES cases (id) ON DELETE CASCADE,
        round            INTEGER NOT NULL DEFAULT 0,
        payload          TEXT,
        state            TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL,
        message_id       INTEGER,
        outcome          TEXT CHECK (outcome IN ('mine', 'taken')),
        edited           INTEGER NOT NULL DEFAULT 0,
        created_at       INTEGER NOT NULL,
        UNIQUE (case_id, volunteer_id, round)
    ) STRICT;
    CREATE INDEX volunteer_messages_due ON volunteer_messages (state, next_attempt_at);
    CREATE INDEX volunteer_messages_to_edit ON volunteer_messages (next_attempt_at)
        WHERE state = 'sent' AND outcome IS NOT NULL AND edited = 0;
    CREATE INDEX volunteer_messages_by_case ON volunteer_messages (case_id);
    """,
    # send intents: written (committed) before every message the bot sends, to any chat, and erased
    # with the returned message id going into pending_deletions. One left over after a crash
    # means a message may exist whose id was never learnt: on start it becomes a sweep of the ids
    # after `floor` (the highest message id known in that chat). Chat id and message ids only,
    # never linked to a case; ids are random so that row order says nothing. A swept id may not
    # exist: `swept` keeps it out of the next floor.
    """
    ALTER TABLE pending_deletions ADD COLUMN swept INTEGER NOT NULL DEFAULT 0 CHECK (swept IN (0, 1));
    CREATE TABLE send_intents (
        id       INTEGER PRIMARY KEY,
        chat_id  INTEGER NOT NULL,
        floor    INTEGER,
        due_at   INTEGER NOT NULL
    ) STRICT;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
