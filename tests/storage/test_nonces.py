"""Nonces of staff requests: refused while a replay could still pass, stored with a coarse expiry only."""

from __future__ import annotations

import os
from pathlib import Path

from storage import db as dbmodule
from storage.db import Database, connect
from storage.nonces import NonceStore
from storage.schema import MIGRATIONS

WINDOW = 60
GRANULARITY = 600
T = 1_700_000_123  # inside a bucket, at an odd second


def _db(tmp_path: Path) -> Database:
    return Database.open(tmp_path / "n.db", dbmodule.DatabaseKey(os.urandom(32)), create=True, granularity=GRANULARITY)


def test_a_nonce_is_stored_with_a_coarse_expiry_after_two_windows(tmp_path: Path) -> None:
    db = _db(tmp_path)
    try:
        assert NonceStore(db, WINDOW).use("n" * 24, T)
        [(expires,)] = db.conn.execute("SELECT expires_at FROM request_nonces").fetchall()
        assert expires % GRANULARITY == 0 and T + 2 * WINDOW <= expires < T + 2 * WINDOW + GRANULARITY
        columns = {r[1] for r in db.conn.execute("PRAGMA table_info(request_nonces)")}
        assert columns == {"nonce", "expires_at"}  # no exact time of a staff request
    finally:
        db.close()


def test_a_replay_is_refused_for_as_long_as_its_signature_could_be_accepted(tmp_path: Path) -> None:
    db = _db(tmp_path)
    try:
        store = NonceStore(db, WINDOW)
        assert store.use("once", T)
        for later in (T, T + WINDOW, T + 2 * WINDOW):  # a signature created at T - WINDOW .. T passes until T + 2W
            assert not store.use("once", later), later
        assert store.use("other", T + 2 * WINDOW + GRANULARITY)  # pruning happens only past the rounded expiry
        [(count,)] = db.conn.execute("SELECT count(*) FROM request_nonces WHERE nonce = 'once'").fetchall()
        assert count == 0
    finally:
        db.close()


def test_unacceptable_nonces_are_refused(tmp_path: Path) -> None:
    db = _db(tmp_path)
    try:
        assert not NonceStore(db, WINDOW).use("", T)
        assert not NonceStore(db, WINDOW).use("x" * 129, T)
    finally:
        db.close()


def test_nonces_of_an_older_database_keep_being_refused_after_the_migration(tmp_path: Path) -> None:
    path, key = tmp_path / "old.db", dbmodule.DatabaseKey(os.urandom(32))
    path.touch(mode=0o600)
    conn = connect(path, key)
    Database(path, conn)  # registers the SQL functions older migrations use
    version = next(i for i, script in enumerate(MIGRATIONS) if "request_nonces_expiring" in script)
    for script in MIGRATIONS[:version]:
        for statement in dbmodule._statements(script):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO request_nonces (nonce, seen_at) VALUES ('seen-before', ?)", (T,))
    conn.close()
    db = Database.open(path, key, granularity=GRANULARITY)
    try:
        [(expires,)] = db.conn.execute("SELECT expires_at FROM request_nonces").fetchall()
        assert expires % GRANULARITY == 0 and expires >= T + 2 * WINDOW
        assert not NonceStore(db, WINDOW).use("seen-before", T + WINDOW)
    finally:
        db.close()
