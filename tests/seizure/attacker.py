"""The seizure attacker: a copy of a server home, every server secret, and nothing else.

    python -m tests.seizure.attacker HOME [--needles needles.json] [--log FILE ...] [--json]

It reads every secret under HOME/secrets, dumps every table and column with
SQL, decrypts every page of the database and every frame of its WAL (free
pages, superseded and stale frames included), parses the -shm, decodes every
cell of every page version, opens chats.state with the database key
(chatside.py), tries every server key on every blob, searches everything
(database pages, opened plaintexts, every file in the home, the logs it is
given) for the needles in every encoding and for cheap tests of references
(oracles.py), times cases from the logs (logs.py), lists times finer than the
granularity, and joins chats to cases every way it knows (joins.py). It prints
labels of needles, never their values. A needles file is a JSON list of
{"label", "kind", "value"} (kind: canary, name, username, reference, chat;
chat values are integers).
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.seizure.blobs import (
    Opened,
    carve_envelopes,
    embedded_blobs,
    open_blob,
    parse_envelope,
)
from tests.seizure.btree import Value
from tests.seizure.carve import (
    Carved,
    ImageKey,
    Row,
    SqlDump,
    carve,
    dump_sql,
    image_key,
)
from tests.seizure.chatside import (
    CHAT_STATE_FILES,
    CHAT_STATE_TREE,
    ChatStateSeen,
    form_message_counts,
    read_chat_states,
)
from tests.seizure.disk import (
    WAL_FRAME_HEADER,
    WAL_HEADER,
    Disk,
    DiskUnreadable,
    PageImage,
    read_disk,
)
from tests.seizure.joins import CaseTrace, ChatTrace, Join, Offsets, every_join
from tests.seizure.keys import KeyRing, read_keys
from tests.seizure.logs import time_cases_from_logs
from tests.seizure.needles import Corpus, Hit, Needle, changed_spans, patterns_for
from tests.seizure.oracles import cheap_needles, peppers
from tests.seizure.traces import (
    case_of,
    case_traces,
    chat_traces,
    fine_times,
    volunteer_chats,
)

DB_NAME = "waystation.db"
#: Every other file of the home is tried as a sealed blob from each of its first bytes (a header before it).
FILE_BLOB_OFFSETS = 41


@dataclass(frozen=True)
class Finding:
    """A needle found: where, how (encoding or key), and whether that place is live data or a remnant."""

    label: str
    kind: str
    where: str
    how: str
    tree: str = ""
    live: bool = False

    def line(self) -> str:
        place = f" [{self.tree}, {'live row' if self.live else 'remnant'}]" if self.tree else ""
        return f"{self.kind} {self.label!r} in {self.where}{place} ({self.how})"


@dataclass(frozen=True)
class PageTag:
    """What the search needs to place a hit in a page version."""

    image: ImageKey
    tree: str
    live: bool
    overflow: bool


@dataclass
class Report:
    """Everything the attacker learned from one copy of a home."""

    home: str
    stats: dict[str, int] = field(default_factory=dict)
    rows_per_table: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    opened: list[tuple[str, str]] = field(default_factory=list)  # (where, how): what some server key opened
    chats: list[ChatTrace] = field(default_factory=list)
    cases: list[CaseTrace] = field(default_factory=list)
    joins: list[Join] = field(default_factory=list)
    live_chats: set[int] = field(default_factory=set)  # chats the chat state (or a live table) holds now
    volunteer_chats: set[int] = field(default_factory=set)
    chat_state: dict[str, int | float | str] = field(default_factory=dict)  # what the chat state file shows
    #: "table.column" -> how many values (SQL rows and carved remnants) look like a time finer than
    #: the granularity: every case-side time should be on its grid (or a deadline: bucket end + delay).
    fine_times: dict[str, int] = field(default_factory=dict)
    granularity: int = 1
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for people (no needle values)."""
        lines = [f"home {self.home}: " + ", ".join(f"{k} {v}" for k, v in sorted(self.stats.items()))]
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  opened with a server key: {where} ({how})" for where, how in self.opened[:40]]
        if len(self.opened) > 40:
            lines.append(f"  ... and {len(self.opened) - 40} more opened blobs")
        lines += [f"  FOUND {f.line()}" for f in self.findings[:200]]
        if len(self.findings) > 200:
            lines.append(f"  ... and {len(self.findings) - 200} more findings")
        lines += [f"  times finer than the granularity in {where}: {n}" for where, n in self.fine_times.items()]
        lines += [f"  join {j.name}: {len(j.guesses)} guesses {j.note}" for j in self.joins]
        return "\n".join(lines)


def _offsets(home: Path) -> tuple[Offsets, int]:
    try:
        config = tomllib.loads((home / "config.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        config = {}
    privacy = config.get("privacy", {})
    alerts = config.get("alerts", {})
    extra = (alerts.get("remind_after_minutes", 30) * 60, alerts.get("urgent_remind_after_minutes", 10) * 60,
             alerts.get("delete_after_hours", 24) * 3600)
    offsets = Offsets(privacy.get("delete_after_seconds", 600), privacy.get("delete_after_submit_seconds", 120), extra)
    return offsets, max(1, int(privacy.get("time_granularity_seconds", 600)))


class Attack:
    """One attack on one copy of a home."""

    def __init__(self, home: Path, needles: list[Needle], logs: list[Path]) -> None:
        self.home = home
        self.needles = needles
        self.logs = logs
        self.report = Report(str(home))
        self.patterns = patterns_for(needles)
        self.corpus = Corpus()
        self.ring: KeyRing = read_keys(home)
        self.dump = SqlDump()
        self.disk: Disk | None = None
        self.carved = Carved()
        self.rows: list[Row] = []
        self.owners: dict[int, tuple[str, str]] = {}
        self.findings: dict[tuple[str, str, str], Finding] = {}
        self.handle_links: dict[int, str] = {}
        self.chat_states: list[ChatStateSeen] = []

    # -- reading ---------------------------------------------------------------------------------

    def read(self) -> None:
        db = self.home / DB_NAME
        stats = self.report.stats
        stats["secret files"] = len(self.ring.secrets_read)
        stats["x25519 keys tried"] = len(self.ring.box_keys)
        stats["symmetric keys tried"] = len(self.ring.symmetric)
        if db.exists():
            self.dump = dump_sql(db, [(k.name, k.material) for k in self.ring.db_keys])
            if self.dump.error:
                self.report.notes.append(f"SQL could not open the database: {self.dump.error}")
            self.report.rows_per_table = {name: len(rows) for name, rows in self.dump.rows.items()}
            self._add_cheap_reference_tests()
            for key in self.ring.db_keys:
                try:
                    self.disk = read_disk(db, key.material)
                    break
                except DiskUnreadable:
                    continue
            if self.disk is None:
                self.report.notes.append("no server key decrypts the database pages")
        if self.disk is not None:
            self.carved = carve(self.disk, self.dump)
            self.rows, self.owners = self.carved.rows, self.carved.owners
            disk = self.disk
            stats["pages"] = len(disk.main)
            stats["pages authentic"] = sum(1 for p in disk.main if p.authentic)
            for state in ("committed", "uncommitted", "stale"):
                stats[f"wal frames {state}"] = sum(1 for p in disk.wal if p.state == state)
            stats["wal bytes"] = disk.wal_bytes
            stats["rows decoded"] = len(self.rows)
            stats["remnant rows"] = sum(1 for r in self.rows if not r.live)
            if disk.shm is not None:
                stats["shm frame entries"] = sum(1 for p in disk.shm.frame_pages if p)
                stats["shm stale entries"] = disk.shm.stale_entries
            self._add_pages(disk)
        for row in (r for r in self.rows if r.spilled):  # a needle split across an overflow boundary
            for column, value in row.values.items():
                if isinstance(value, str | bytes) and len(value) > 0:
                    data = value.encode("utf-8") if isinstance(value, str) else value
                    self.corpus.add(f"{row.where} column {column}", data, bytes(len(data)), (row.tree, row.live))
        for table, sql_rows in self.dump.rows.items():
            for number, sql_row in enumerate(sql_rows):
                for column, value in sql_row.items():
                    if isinstance(value, str | bytes) and value:
                        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
                        self.corpus.add(f"SQL {table}.{column} row {number}", data,
                                        data if isinstance(value, str) else bytes(len(data)), (table, True))
        self._read_chat_states()
        for path in sorted(p for p in self.home.rglob("*") if p.is_file()):
            data = self._raw(path)
            # Ciphertext: no binary search in it (a few bytes of a chat id would match by chance).
            encrypted = path.name in (DB_NAME, DB_NAME + "-wal", *CHAT_STATE_FILES)
            self.corpus.add(f"file {path.relative_to(self.home)}", data, bytes(len(data)) if encrypted else data)
        for path in self.logs:
            if path.exists():
                self.corpus.add(f"log {path.name}", path.read_bytes())

    def _add_cheap_reference_tests(self) -> None:
        """Search also for cheap tests of each reference (oracles.py): fast hashes, reply keys at a low cost."""
        case_ids = [str(r["id"]) for r in self.dump.rows.get("cases", []) if r.get("id")]
        extra = cheap_needles(self.needles, peppers(self.home), case_ids)
        self.needles = [*self.needles, *extra]
        self.patterns += patterns_for(extra)
        self.report.stats["cheap reference tests searched"] = len(extra)

    def _raw(self, path: Path) -> bytes:
        """A file's bytes as the search needs them.

        Of the database and its WAL, only what is not an authenticated page: an authenticated
        page is ciphertext under the key, and its plaintext is searched above; a page that did
        not authenticate, a WAL header and frame headers (cleartext) are searched raw.
        """
        data = path.read_bytes()
        disk = self.disk
        if disk is None or path.name not in (DB_NAME, DB_NAME + "-wal"):
            return data
        if path.name == DB_NAME:
            return b"".join(data[i.pgno * disk.page_size - disk.page_size : i.pgno * disk.page_size]
                            for i in disk.main if not i.authentic) + data[len(disk.main) * disk.page_size :]
        frame = WAL_FRAME_HEADER + disk.page_size
        parts = [data[:WAL_HEADER]]
        for start in range(WAL_HEADER, len(data), frame):
            parts.append(data[start : start + WAL_FRAME_HEADER])
            image = next((i for i in disk.wal if i.frame == (start - WAL_HEADER) // frame + 1), None)
            if image is None or not image.authentic:
                parts.append(data[start + WAL_FRAME_HEADER : start + frame])
        return b"".join(parts)

    def _read_chat_states(self) -> None:
        """Open chats.state (and a temporary copy) with every database key; search all of its plaintext."""
        self.chat_states, notes = read_chat_states(self.home, self.ring)
        self.report.notes += notes
        stats = self.report.stats
        stats["chat state files opened"] = len(self.chat_states)
        for seen in self.chat_states:
            # Structure = the plaintext itself: chat ids are searched in binary too (they are stored as i64).
            self.corpus.add(f"file {seen.file} (opened with {seen.key_name})", seen.padded, seen.padded,
                            (CHAT_STATE_TREE, seen.live))
            if seen.error:
                self.report.notes.append(f"{seen.file} opened but breaks its format: {seen.error}")
            if not seen.live or seen.snapshot is None:
                continue
            body = int.from_bytes(seen.padded[:4], "big")
            self.report.chat_state = {"bytes": seen.size, "padded": len(seen.padded), "body": body,
                                      "chats": len(seen.snapshot.chats), "intents": len(seen.snapshot.intents),
                                      "message ids": sum(len(c.message_ids) for c in seen.snapshot.chats.values()),
                                      "mtime": seen.mtime}
            stats["chat state chats"] = len(seen.snapshot.chats)
            stats["chat state intents"] = len(seen.snapshot.intents)

    def _add_pages(self, disk: Disk) -> None:
        """Every page version; each after the first of its page only where it differs from the one before.

        The live version of a page is searched whole first, so a needle still
        live is reported as live; older versions add only what they hold elsewhere.
        """
        current = disk.current()
        margin = max((len(p.data) for p in self.patterns), default=0)
        chains: dict[int, list[PageImage]] = {}
        for image in disk.images():
            chains.setdefault(image.pgno, []).append(image)
        for pgno, chain in chains.items():
            chain.sort(key=lambda i: (i is not current.get(pgno), i.state == "stale", i.frame or 0))
            previous: bytes | None = None
            owner = self.owners.get(pgno, ("?", "unreached"))
            for image in chain:
                live = current.get(pgno) is image and owner[1] in ("btree", "overflow")
                where = f"{image.where} [{owner[0]} {owner[1]}]"
                masked = self.carved.structure[image_key(image)]
                # The reserve (SQLCipher's IV and MAC, random) holds no data; without it the zeroed
                # pages of the free-page pool are all the same region, searched once.
                data = image.data[: disk.usable] if image.authentic else image.data
                spans = [(0, len(data))] if previous is None else changed_spans(previous, data, margin)
                tag = PageTag(image_key(image), owner[0], live, owner[1] == "overflow")
                for start, end in spans:
                    self.corpus.add(where, data[start:end], masked[start:end], tag, start)
                previous = data

    # -- keys on blobs ---------------------------------------------------------------------------

    def open_blobs(self) -> None:
        # Every place each distinct blob was found: (where, case id, table, live).
        blobs: dict[bytes, list[tuple[str, str | None, str, bool]]] = {}
        for row in self.rows:
            case = case_of(row)
            for column, value in row.values.items():
                for data in _blob_forms(value):
                    blobs.setdefault(data, []).append((f"{row.where} column {column}", case, row.tree, row.live))
        for table, rows in self.dump.rows.items():
            for number, sql_row in enumerate(rows):
                found = sql_row.get("case_id") or (sql_row.get("id") if table == "cases" else None)
                sql_case = found if isinstance(found, str) else None
                for column, value in sql_row.items():
                    for data in _blob_forms(value):
                        blobs.setdefault(data, []).append((f"SQL {table}.{column} row {number}", sql_case, table,
                                                           True))
        if self.disk is not None:
            for image in self.disk.images():
                for offset, data in carve_envelopes(image.data):
                    envelope = parse_envelope(data)
                    if envelope is not None:
                        whole = envelope.header + envelope.nonce + len(envelope.ciphertext).to_bytes(4, "big") \
                            + envelope.ciphertext
                        owner = self.owners.get(image.pgno, ("?", ""))[0]
                        blobs.setdefault(whole, []).append((f"{image.where} offset {offset} (carved envelope)",
                                                            envelope.case_id, owner, False))
        for path in sorted(p for p in self.home.rglob("*") if p.is_file()):
            if path.name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", *CHAT_STATE_FILES):
                continue  # pages are carved above; the chat state is opened by its own format
            data = path.read_bytes()
            for offset in range(0, min(FILE_BLOB_OFFSETS, max(0, len(data) - 48))):  # a header before the box
                blobs.setdefault(data[offset:], []).append((f"file {path.relative_to(self.home)} from byte {offset}",
                                                            None, "file", True))
        self.report.stats["blobs tried"] = len(blobs)
        opened_count = 0
        for blob, places in blobs.items():
            places.sort(key=lambda p: (not p[3], not p[0].startswith("SQL")))  # name a live place first
            where, case, tree, live = places[0]
            if len(places) > 1:
                where += f" (and {len(places) - 1} more copies)"
            envelope = parse_envelope(blob)
            case = case or (envelope.case_id if envelope else None)
            for opened in open_blob(blob, self.ring, where):
                opened_count += 1
                self.report.opened.append((opened.where, opened.how))
                self.corpus.add(f"{opened.where}, opened: {opened.how}", opened.plaintext, None, (tree, live))
                self._handle(opened, case)
        self.report.stats["blobs opened"] = opened_count

    def _handle(self, opened: Opened, case: str | None) -> None:
        """A plaintext that is a chat id (a reply handle), tied to the case its blob belongs to."""
        text = opened.plaintext.decode("ascii", errors="ignore").strip()
        if case and text.lstrip("-").isdigit() and len(text) <= 20:
            self.handle_links[int(text)] = case

    # -- needles ---------------------------------------------------------------------------------

    def search(self) -> None:
        self.report.stats["bytes searched"] = self.corpus.size
        for hit in self.corpus.search(self.patterns):
            tree, live = self._place(hit)
            where = hit.where if not isinstance(hit.tag, PageTag) else f"{hit.where} offset {hit.offset}"
            self._add(Finding(hit.needle.label, hit.needle.kind, where, hit.encoding, tree, live))
        ints = {n.value: n for n in self.needles if isinstance(n.value, int)}
        for row in self.rows:
            for column, value in [*row.values.items(), ("rowid", row.rowid)]:
                if isinstance(value, int) and value in ints:
                    needle = ints[value]
                    self._add(Finding(needle.label, needle.kind, row.where, f"integer in column {column}",
                                      row.tree, row.live))
        for table, rows in self.dump.rows.items():
            for number, sql_row in enumerate(rows):
                for column, value in sql_row.items():
                    if isinstance(value, int) and value in ints:
                        needle = ints[value]
                        self._add(Finding(needle.label, needle.kind, f"SQL {table}.{column} row {number}",
                                          "integer", table, True))
        self.report.findings = sorted(self.findings.values(), key=lambda f: (f.kind, f.label, f.where))

    def _place(self, hit: Hit) -> tuple[str, bool]:
        """The table a hit lies in, and whether SQL shows those bytes (inside a cell of a live page)."""
        tag = hit.tag
        if isinstance(tag, PageTag):
            if tag.overflow:
                return tag.tree, tag.live
            cell = next((c for c in self.carved.cells.get(tag.image, []) if c[0] <= hit.offset < c[1]), None)
            if cell is None:
                return f"{tag.tree} free space", False
            return cell[2], tag.live
        if isinstance(tag, tuple) and len(tag) == 2:
            return str(tag[0]), bool(tag[1])
        return "", False

    def _add(self, finding: Finding) -> None:
        self.findings.setdefault((finding.label, finding.where, finding.how), finding)

    # -- joins -----------------------------------------------------------------------------------

    def trace(self) -> None:
        offsets, granularity = _offsets(self.home)
        self.report.granularity = granularity
        self.report.fine_times = fine_times(self.rows, self.dump, granularity)
        volunteers = volunteer_chats(self.rows, self.dump)
        chats, live = chat_traces(self.rows, self.dump, volunteers, self.chat_states)
        for chat_id in self.handle_links:
            chats.setdefault(chat_id, ChatTrace(chat_id))
        self.report.volunteer_chats, self.report.live_chats = volunteers, live
        self.report.chats = sorted(chats.values(), key=lambda c: c.chat_id)
        self.report.cases = case_traces(self.rows, self.dump)
        self.report.stats["cases timed to the second by the logs"] = time_cases_from_logs(self.logs, self.report.cases,
                                                                                          self.dump)
        shm_pages = self.disk.shm.frame_pages if self.disk and self.disk.shm else ()
        self.report.joins = every_join(self.report.chats, self.report.cases, offsets, shm_pages,
                                       form_message_counts(self.home))
        self.report.joins.append(Join("keys: reply handles opened with a server key", dict(self.handle_links),
                                      proof=True))


def _blob_forms(value: Value) -> list[bytes]:
    """A blob value as is; a text value's base64-decoded forms (JSON or bare)."""
    if isinstance(value, bytes) and len(value) >= 32:
        return [value]
    if isinstance(value, str) and len(value) >= 44:
        found = [inner for _, inner in embedded_blobs(json.dumps(value).encode())]
        found += [inner for _, inner in embedded_blobs(value.encode())]
        return [f for f in found if len(f) >= 32]
    return []


def attack(home: Path, needles: list[Needle], logs: list[Path] | None = None) -> Report:
    """Run every attack on a copy of a home; nothing in `home` is changed."""
    run = Attack(home, needles, logs or [])
    run.read()
    run.open_blobs()
    run.search()
    run.trace()
    return run.report


def load_needles(path: Path) -> list[Needle]:
    """Needles from a JSON list of {"label", "kind", "value"}."""
    items = json.loads(path.read_text(encoding="utf-8"))
    return [Needle(str(i["label"]), str(i["kind"]), i["value"]) for i in items]


def main(argv: list[str] | None = None) -> int:
    """Attack a home from the command line; exit 1 if any needle was found."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("home", type=Path, help="a COPY of a server home (db, -wal, -shm, secrets/)")
    parser.add_argument("--needles", type=Path, help="JSON list of needles")
    parser.add_argument("--log", type=Path, action="append", default=[], help="a log file to search too")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    needles = load_needles(args.needles) if args.needles else []
    report = attack(args.home, needles, args.log)
    if args.json:
        obj = asdict(report)
        # Counts, not chat ids: the report must not print what it looked for.
        obj["live_chats"], obj["volunteer_chats"] = len(report.live_chats), len(report.volunteer_chats)
        obj["chats"], obj["cases"] = len(report.chats), len(report.cases)
        obj["joins"] = [{"name": j.name, "guesses": len(j.guesses), "note": j.note} for j in report.joins]
        print(json.dumps(obj, default=str, indent=1))
    else:
        print(report.summary())
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
