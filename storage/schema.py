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
    # 6 (issue 9, replies): a reply waits sealed to a key only the person can re-create from their
    # reference. Old rows were sealed to the bot's key, which opened their text: they are erased
    # (their copies in case_events are marked expired). `envelope` now holds the reply sealed to
    # the person's reply key; `delivery` the caseworker's envelope for the bot (reply handle, its
    # tag, language), erased as soon as the notice went out; `event_id` the caseworkers' copy,
    # whose new `delivery` column says where the reply stands; `seq` orders a case's replies.
    """
    ALTER TABLE case_events ADD COLUMN delivery TEXT
        CHECK (delivery IN ('queued', 'notified', 'read', 'expired', 'undeliverable', 'rejected'));
    UPDATE case_events SET delivery = 'expired' WHERE kind = 'reply' AND EXISTS (
        SELECT 1 FROM outbox o WHERE o.case_id = case_events.case_id AND o.created_at = case_events.created_at);
    DELETE FROM outbox;
    ALTER TABLE outbox ADD COLUMN delivery BLOB;
    ALTER TABLE outbox ADD COLUMN event_id INTEGER REFERENCES case_events (id) ON DELETE CASCADE;
    ALTER TABLE outbox ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX outbox_by_case ON outbox (case_id, seq);
    CREATE INDEX outbox_to_notify ON outbox (next_attempt_at) WHERE delivery IS NOT NULL;
    """,
    # Unlinkable case side (issue 9, "no join from chat to case"): case-side rows now get random
    # ids (storage.db.fresh_row_id) and coarse times (Database.coarse), so that neither row order
    # nor an exact time pairs a case with a chat. A case's events and audit entries keep their
    # order in `seq`; rows written before this get it from their old ids, then random ids and
    # coarse times (random_row_id() and coarse_time() are registered by storage.db.Database).
    # Deadlines still pending are rounded down: a reminder due at the upgrade may come a little early.
    """
    ALTER TABLE case_events ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
    UPDATE case_events SET seq = numbered.n
        FROM (SELECT id, row_number() OVER (PARTITION BY case_id ORDER BY id) AS n FROM case_events) AS numbered
        WHERE numbered.id = case_events.id;
    UPDATE case_events SET id = random_row_id(), created_at = coarse_time(created_at);
    DROP INDEX case_events_by_case;
    CREATE UNIQUE INDEX case_events_in_order ON case_events (case_id, seq);
    CREATE TRIGGER case_events_numbered AFTER INSERT ON case_events WHEN NEW.seq = 0
        BEGIN
            UPDATE case_events SET seq = (SELECT max(seq) FROM case_events WHERE case_id = NEW.case_id) + 1
                WHERE id = NEW.id;
        END;

    ALTER TABLE audit ADD COLUMN seq INTEGER;
    DROP TRIGGER audit_is_append_only_update;
    UPDATE audit SET seq = numbered.n
        FROM (SELECT id, row_number() OVER (PARTITION BY case_id ORDER BY id) AS n FROM audit
              WHERE case_id IS NOT NULL) AS numbered
        WHERE numbered.id = audit.id;
    UPDATE audit SET id = random_row_id(), at = coarse_time(at);
    CREATE TRIGGER audit_is_append_only_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE INDEX audit_by_case ON audit (case_id, seq);

    UPDATE cases SET rowid = random_row_id(), created_at = coarse_time(created_at),
        updated_at = coarse_time(updated_at), claimed_at = coarse_time(claimed_at),
        closed_at = coarse_time(closed_at);
    UPDATE case_alerts SET rowid = random_row_id(), created_at = coarse_time(created_at),
        next_at = coarse_time(next_at), acked_at = coarse_time(acked_at), finished_at = coarse_time(finished_at);
    UPDATE volunteer_messages SET id = random_row_id(), created_at = coarse_time(created_at),
        next_attempt_at = coarse_time(next_attempt_at);

    -- No index may lead with a case-side time: the entries of one time bucket would sit
    -- together in a page, in the order they were written (a cell's place in its page), and
    -- so would order the cases of that bucket. Keys start with a column that has no order.
    DROP INDEX cases_by_queue;
    CREATE INDEX cases_by_queue ON cases (queue, status);
    DROP INDEX case_alerts_open;
    CREATE INDEX case_alerts_open ON case_alerts (case_id) WHERE finished_at IS NULL;
    DROP INDEX volunteer_messages_due;
    CREATE INDEX volunteer_messages_due ON volunteer_messages (state, case_id);
    DROP INDEX volunteer_messages_to_edit;
    CREATE INDEX volunteer_messages_to_edit ON volunteer_messages (case_id)
        WHERE state = 'sent' AND outcome IS NOT NULL AND edited = 0;

    -- Filler rows that are written and deleted in random order to keep a pool of free pages
    -- whose order on the free list is random (storage.db.Database.scatter_free_pages).
    CREATE TABLE spare_pages (
        id      INTEGER PRIMARY KEY,
        filler  BLOB NOT NULL
    ) STRICT;
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
    # The chat side leaves the database (issue 9, "no join from chat to case"): pending deletions
    # and send intents now live in the sealed snapshot HOME/chats.state (storage/chatstate.py),
    # which keeps neither history nor write order. Database.open moves every row into that file
    # (times rounded up) before the migrations run, so dropping the tables here loses nothing;
    # secure_delete zeroes their pages and the WAL is truncated after the commit.
    """
    DROP TABLE send_intents;
    DROP TABLE pending_deletions;
    """,
    # Nonces of signed staff requests keep a coarse expiry instead of the exact time they were
    # seen (storage/nonces.py): the time rounded up to the granularity, never before the
    # signature window has passed. Rows kept from before get an hour, well past any window.
    """
    CREATE TABLE request_nonces_expiring (
        nonce       TEXT PRIMARY KEY,
        expires_at  INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
    INSERT INTO request_nonces_expiring (nonce, expires_at)
        SELECT nonce, coarse_after(seen_at + 3600) FROM request_nonces;
    DROP TABLE request_nonces;
    ALTER TABLE request_nonces_expiring RENAME TO request_nonces;
    """,
    # Grants (issue 12, "team access to existing cases"): a case's content keys re-sealed by a
    # member who can read it to another active caseworker of its queue, signed by the granter
    # (crypto/grant.py). The server can neither open nor forge one; it keeps the recipient's key
    # id (to hand each member their own grants and to judge coverage) and the granter's signing
    # key (a later grant from the same granter to the same recipient replaces the earlier one).
    # Random ids, coarse times, deleted with their case; nothing here concerns a chat.
    """
    CREATE TABLE case_grants (
        id          INTEGER PRIMARY KEY,
        case_id     TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
        recipient   BLOB NOT NULL,
        granter     BLOB NOT NULL,
        created_at  INTEGER NOT NULL,
        body        BLOB NOT NULL,
        UNIQUE (case_id, recipient, granter)
    ) STRICT;
    CREATE INDEX case_grants_by_recipient ON case_grants (recipient, case_id);
    """,
    # Entry codes (issue 13, cover mode): the intake opens only for `/start <code>`. Only a keyed
    # hash of each code is kept (BLAKE2b under the reference pepper), with random ids and coarse
    # times; nothing records which chat or case used a code, only how many uses are left.
    """
    CREATE TABLE entry_codes (
        id          INTEGER PRIMARY KEY,
        code_hash   BLOB NOT NULL UNIQUE,
        queue       TEXT,
        uses_left   INTEGER NOT NULL CHECK (uses_left >= 0),
        created_by  TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL
    ) STRICT;
    """,
    # The desk (issue 12): assignments and tags. `cases.assigned_to` names the caseworker a case
    # is assigned to (a roster name, metadata like `claimed_by`). case_events gains the kinds
    # 'assign' (its new `subject` column names the assignee), 'tag' and 'untag' (sealed to the
    # queue's caseworkers like notes: the server never sees a tag's text). SQLite cannot change a
    # CHECK constraint in place, so case_events is rebuilt with the same random ids, coarse times
    # and per-case `seq`. Dropping the old table would cascade to the outbox rows that point at
    # reply copies (outbox.event_id), so those are kept aside and put back unchanged.
    """
    ALTER TABLE cases ADD COLUMN assigned_to TEXT;

    CREATE TABLE case_events_desk (
        id          INTEGER PRIMARY KEY,
        case_id     TEXT NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
        kind        TEXT NOT NULL CHECK (kind IN
                        ('claim', 'note', 'follow_up', 'reply', 'close', 'reopen', 'ack', 'assign', 'tag', 'untag')),
        actor       TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        envelope    BLOB,
        delivery    TEXT
            CHECK (delivery IN ('queued', 'notified', 'read', 'expired', 'undeliverable', 'rejected')),
        seq         INTEGER NOT NULL DEFAULT 0,
        subject     TEXT
    ) STRICT;
    INSERT INTO case_events_desk (id, case_id, kind, actor, created_at, envelope, delivery, seq)
        SELECT id, case_id, kind, actor, created_at, envelope, delivery, seq FROM case_events;
    CREATE TEMP TABLE outbox_kept AS SELECT * FROM outbox;
    DROP TABLE case_events;
    ALTER TABLE case_events_desk RENAME TO case_events;
    INSERT INTO outbox SELECT * FROM outbox_kept WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.id = outbox_kept.id);
    DROP TABLE temp.outbox_kept;
    CREATE UNIQUE INDEX case_events_in_order ON case_events (case_id, seq);
    CREATE TRIGGER case_events_numbered AFTER INSERT ON case_events WHEN NEW.seq = 0
        BEGIN
            UPDATE case_events SET seq = (SELECT max(seq) FROM case_events WHERE case_id = NEW.case_id) + 1
                WHERE id = NEW.id;
        END;
    """,
    # Listing in pages (staff API `limit` and `after`, the desk's big lists): cases in the order
    # they are listed, with the queue and status beside them, so that a page and the count of what
    # follows it are read from this index without sorting, or reading, every envelope of the table.
    """
    CREATE INDEX cases_in_order ON cases (created_at, id, queue, status);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
