"""Durable enqueues per second, against a bare sqlcipher3 insert+commit of the same blob.

Run from the repository root (project installed):

    python bench/enqueue.py [--seconds 6] [--rounds 61] [--dir DIR]

"Waystation" is storage.cases.CaseStore.enqueue on a database made by
storage.home.init_home: one transaction (case and audit entry), then the
truncating WAL checkpoint that ends every Waystation commit, so that no WAL
frame outlives it (docs/threat-model.md). "Bare" is a second SQLCipher file
beside it, keyed the same raw-key way, with storage.db.PRAGMAS, holding a copy
of the cases table and its index (DDL taken from the real database), where
each case is one INSERT and one commit(). "Bare + checkpoint" adds the same
PRAGMA wal_checkpoint(TRUNCATE) after each commit: the cheapest durable write
that also leaves no WAL history. All store the same real envelope (2 KiB sealed
to 5 recipients) under a new random case id and a 32-byte random reference hash.
Target: Waystation at least 0.8 times the rate of the bare write that gives the
same guarantee (bare + checkpoint); the ratio to the plain bare write is printed
too, and is the price of the checkpoint.

Put --dir on the file system the server will use: the figure is mostly the
cost of fsync there. The temporary directory is removed afterwards.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nacl.utils
from nacl.public import PrivateKey
from sqlcipher3 import dbapi2 as sqlcipher

from crypto.envelope import Kind, seal
from crypto.keys import load_identity
from intake.requests import new_case_id
from storage.cases import CaseId, CaseStore
from storage.db import PRAGMAS, Database, DatabaseKey
from storage.home import Home, init_home
from timing import (
    Contender,
    Timing,
    alternate,
    busy_warning,
    machine,
    paired_median,
    paired_ratios,
    quartiles,
)

PAYLOAD_SIZE = 2048
RECIPIENTS = 5
RATIO_TARGET = 0.8
QUEUE = "main"
REF_HASH_SIZE = 32

WAYSTATION, BARE, BARE_CHECKPOINT = "CaseStore.enqueue", "bare insert+commit", "bare + checkpoint"

_BARE_INSERT = (
    "INSERT INTO cases (id, queue, status, created_at, updated_at, ref_hash, envelope)"
    " VALUES (?, ?, 'new', ?, ?, ?, ?)"
)


def real_envelope(home: Home) -> bytes:
    """A 2 KiB request sealed to 5 fresh recipients and signed with the home's bot key."""
    bot = load_identity(home.bot_identity_path.read_bytes(), None)
    recipients = [PrivateKey.generate().public_key for _ in range(RECIPIENTS)]
    return seal(
        nacl.utils.random(PAYLOAD_SIZE), kind=Kind.REQUEST, case_id=new_case_id(), queue=QUEUE,
        recipients=recipients, signer=bot.signing_key,
    )


def open_bare(path: Path, key: DatabaseKey, like: Database) -> sqlcipher.Connection:
    """A new SQLCipher file keyed and tuned like ours, with a copy of the real cases table."""
    conn = sqlcipher.connect(str(path))  # default isolation: INSERT opens a transaction, commit() ends it
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    for pragma in PRAGMAS:
        conn.execute(pragma)
    ddl = like.conn.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'cases' AND sql IS NOT NULL ORDER BY type DESC"
    ).fetchall()
    if not ddl:
        raise RuntimeError("the real database has no cases table; update this benchmark")
    for (statement,) in ddl:  # 'table' sorts after 'index', hence DESC: table first
        conn.execute(statement)
    conn.commit()
    return conn


def _cases(n: int) -> list[tuple[CaseId, bytes]]:
    return [(new_case_id(), nacl.utils.random(REF_HASH_SIZE)) for _ in range(n)]


def contenders(store: CaseStore, bare: sqlcipher.Connection, bare_checkpointed: sqlcipher.Connection,
               envelope: bytes) -> list[Contender]:
    """Every side inserts n new cases, one transaction each; ids are drawn before the clock starts."""

    def waystation(n: int) -> float:
        cases = _cases(n)
        now = int(time.time())
        start = time.perf_counter()
        for case_id, ref_hash in cases:
            store.enqueue(case_id=case_id, queue=QUEUE, envelope=envelope, ref_hash=ref_hash, now=now)
        return time.perf_counter() - start

    def bare_insert(n: int) -> float:
        cases = _cases(n)
        now = int(time.time())
        start = time.perf_counter()
        for case_id, ref_hash in cases:
            bare.execute(_BARE_INSERT, (case_id, QUEUE, now, now, ref_hash, envelope))
            bare.commit()
        return time.perf_counter() - start

    def bare_insert_checkpoint(n: int) -> float:
        cases = _cases(n)
        now = int(time.time())
        start = time.perf_counter()
        for case_id, ref_hash in cases:
            bare_checkpointed.execute(_BARE_INSERT, (case_id, QUEUE, now, now, ref_hash, envelope))
            bare_checkpointed.commit()
            bare_checkpointed.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return time.perf_counter() - start

    return [Contender(WAYSTATION, waystation), Contender(BARE, bare_insert),
            Contender(BARE_CHECKPOINT, bare_insert_checkpoint)]


@dataclass(frozen=True)
class Figures:
    """The outcome of one run."""

    envelope_size: int
    cipher_version: str
    sqlite_version: str
    directory: str
    rounds: int
    timings: dict[str, Timing]
    rows: int
    warning: str | None = None

    @property
    def ratio(self) -> float:
        """Waystation rate / the rate of the bare write with the same guarantee (median of per-round ratios)."""
        return paired_median(self.timings[BARE_CHECKPOINT], self.timings[WAYSTATION])

    @property
    def ratio_quartiles(self) -> tuple[float, float]:
        """Quartiles of the per-round ratio: how sure the median is."""
        return quartiles(paired_ratios(self.timings[BARE_CHECKPOINT], self.timings[WAYSTATION]))

    @property
    def ratio_to_plain(self) -> float:
        """Waystation rate / the plain bare insert+commit rate: what the checkpoint costs."""
        return paired_median(self.timings[BARE], self.timings[WAYSTATION])

    @property
    def met(self) -> bool:
        return self.ratio >= RATIO_TARGET


def measure(*, seconds: float = 6.0, rounds: int = 61, directory: str | None = None) -> Figures:
    """Alternate both sides in `rounds` for about `seconds`, in a temporary directory under `directory`."""
    warning = busy_warning()
    with tempfile.TemporaryDirectory(prefix="waystation-bench-", dir=directory) as tmp:
        home = init_home(Path(tmp) / "home")
        key = home.db_key()
        db = Database.open(home.db_path, key)
        try:
            bare = open_bare(Path(tmp) / "bare.db", key, db)
            checkpointed = open_bare(Path(tmp) / "bare-checkpointed.db", key, db)
            try:
                envelope = real_envelope(home)
                timings = alternate(contenders(CaseStore(db), bare, checkpointed, envelope), rounds=rounds,
                                    seconds=seconds)
                rows = int(db.conn.execute("SELECT count(*) FROM cases").fetchone()[0])
                cipher_version = str(bare.execute("PRAGMA cipher_version").fetchone()[0])
            finally:
                bare.close()
                checkpointed.close()
        finally:
            db.close()
        return Figures(len(envelope), cipher_version, sqlcipher.sqlite_version, str(Path(tmp).parent), rounds,
                       timings, rows, warning)


def report(fig: Figures) -> str:
    """The figures as a small table."""
    lines = [
        f"Durable enqueue of a {fig.envelope_size}-byte envelope (2 KiB request, {RECIPIENTS} recipients), "
        f"one transaction per case",
        f"{machine()}, SQLCipher {fig.cipher_version} (SQLite {fig.sqlite_version}), in {fig.directory}",
        f"{fig.rounds} alternating rounds, medians; {fig.rows} cases written by Waystation",
        f"  {'':<22} {'ops/s':>8} {'ms/op':>8} {'IQR/median':>11}",
    ]
    if fig.warning:
        lines.insert(0, fig.warning)
    for name in (WAYSTATION, BARE_CHECKPOINT, BARE):
        t = fig.timings[name]
        lines.append(f"  {name:<22} {t.ops_per_second:>8,.0f} {t.median * 1e3:>8.3f} {t.spread:>11.1%}")
    verdict = "met" if fig.met else "NOT MET"
    low, high = fig.ratio_quartiles
    lines.append(
        f"  ratio: {fig.ratio:.2f} of bare + checkpoint (quartiles {low:.2f} .. {high:.2f};"
        f" target >= {RATIO_TARGET}: {verdict})"
    )
    lines.append(f"  ratio to the plain bare insert+commit: {fig.ratio_to_plain:.2f}"
                 " (the price of leaving no WAL history)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="total time budget (default 6)")
    parser.add_argument("--rounds", type=int, default=61, help="alternating rounds (default 61)")
    parser.add_argument("--dir", default=None, help="where to put the temporary databases (default: system temp)")
    args = parser.parse_args(argv)
    print(report(measure(seconds=args.seconds, rounds=args.rounds, directory=args.dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
