"""Rows out of every page version: the schema from SQL, each page's owner, every cell decoded.

A page version the live b-trees still reach is *live* (SQL shows its rows);
every other version (a WAL frame superseded or never committed, a stale
frame of an earlier WAL generation, a free page) holds *remnants*: rows SQL no
longer shows but a disk still does.
"""

from __future__ import annotations

import functools
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlcipher3 import dbapi2 as sqlcipher

from tests.seizure.btree import (
    INDEX_INTERIOR,
    INDEX_LEAF,
    TABLE_INTERIOR,
    Field,
    Page,
    RecordInvalid,
    Value,
    decode_record,
    full_payload,
    parse_page,
)
from tests.seizure.disk import Disk, PageImage

SQL_TYPES = {"INTEGER": int, "TEXT": str, "BLOB": bytes, "REAL": float}


@dataclass(frozen=True)
class BTree:
    """A table or index as sqlite_master and the PRAGMAs describe it."""

    name: str
    kind: str  # table | index
    table: str
    root: int
    columns: tuple[str, ...]
    types: tuple[str, ...]
    rowid_alias: int | None = None  # INTEGER PRIMARY KEY column: stored as the rowid, NULL in the record
    without_rowid: bool = False

    @property
    def index_btree(self) -> bool:
        """Stored as an index b-tree (an index, or a WITHOUT ROWID table)."""
        return self.kind == "index" or self.without_rowid


@dataclass
class SqlDump:
    """What SQL shows: the schema and every row of every table."""

    trees: dict[str, BTree] = field(default_factory=dict)
    rows: dict[str, list[dict[str, Value]]] = field(default_factory=dict)
    key_name: str = ""
    error: str = ""


@dataclass(frozen=True)
class Row:
    """One decoded cell of one page version."""

    tree: str  # owning table or index ("?" when unknown)
    values: dict[str, Value]
    rowid: int | None
    image: PageImage
    cell_index: int
    cell_offset: int
    live: bool
    spilled: bool = False  # the payload continued on overflow pages

    @property
    def where(self) -> str:
        state = "live" if self.live else "remnant"
        return f"{self.image.where}, {self.tree} cell {self.cell_index} ({state})"


def dump_sql(db_path: Path, keys: list[tuple[str, bytes]]) -> SqlDump:
    """Open a scratch copy (main file and WAL, no -shm: SQLite rebuilds the index) and read everything."""
    dump = SqlDump()
    with tempfile.TemporaryDirectory(prefix="seizure-sql-") as scratch:
        copy = Path(scratch) / db_path.name
        shutil.copyfile(db_path, copy)
        wal = db_path.with_name(db_path.name + "-wal")
        if wal.exists():
            shutil.copyfile(wal, Path(scratch) / wal.name)
        for name, key in keys:
            conn = sqlcipher.connect(str(copy), isolation_level=None)
            try:
                conn.execute("PRAGMA cipher_log_level = NONE")
                conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
                master = conn.execute("SELECT type, name, tbl_name, rootpage, sql FROM sqlite_master").fetchall()
            except sqlcipher.DatabaseError as err:
                conn.close()
                dump.error = f"{type(err).__name__} with {name}"
                continue
            dump.key_name, dump.error = name, ""
            try:
                _read_all(conn, master, dump)
            finally:
                conn.close()
            break
    return dump


def _read_all(conn: sqlcipher.Connection, master: list[tuple[object, ...]], dump: SqlDump) -> None:
    dump.trees["sqlite_master"] = BTree("sqlite_master", "table", "sqlite_master", 1,
                                        ("type", "name", "tbl_name", "rootpage", "sql"),
                                        ("TEXT", "TEXT", "TEXT", "INTEGER", "TEXT"))
    dump.rows["sqlite_master"] = [
        {name: value for name, value in zip(("type", "name", "tbl_name", "rootpage", "sql"), row, strict=True)
         if value is None or isinstance(value, int | float | str | bytes)} for row in master]
    for kind, name, table, root, sql in master:
        if kind not in ("table", "index") or not root:
            continue
        name, table = str(name), str(table)
        if kind == "table":
            info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
            columns = tuple(str(r[1]) for r in info)
            types = tuple(str(r[2]).upper() for r in info)
            without = "WITHOUT ROWID" in str(sql or "").upper()
            alias = None
            pk = [r for r in info if r[5]]
            if not without and len(pk) == 1 and str(pk[0][2]).upper() == "INTEGER":
                alias = int(pk[0][0])
            if without:
                order = conn.execute(f'PRAGMA index_xinfo("{name}")').fetchall()
                if order:
                    positions = [int(r[1]) for r in order if r[1] is not None and int(r[1]) >= 0]
                    columns = tuple(columns[p] for p in positions)
                    types = tuple(types[p] for p in positions)
            dump.trees[name] = BTree(name, "table", table, int(root), columns, types, alias, without)  # type: ignore[call-overload]
            select = "*" if without else "rowid AS _rowid_, *"
            cursor = conn.execute(f'SELECT {select} FROM "{name}"')
            names = [d[0] for d in cursor.description]
            dump.rows[name] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        else:
            xinfo = conn.execute(f'PRAGMA index_xinfo("{name}")').fetchall()
            parent = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
            columns = tuple("rowid" if r[1] is not None and int(r[1]) < 0 else str(r[2]) for r in xinfo)
            types = tuple("INTEGER" if r[1] is None or int(r[1]) < 0 else str(parent[int(r[1])][2]).upper()
                          for r in xinfo)
            dump.trees[name] = BTree(name, "index", table, int(root), columns, types)  # type: ignore[call-overload]


def page_owners(disk: Disk, dump: SqlDump) -> dict[int, tuple[str, str]]:
    """Page number -> (tree, role) for every page the live b-trees reach now (role: btree | overflow | free)."""
    current = disk.current()
    owners: dict[int, tuple[str, str]] = {1: ("sqlite_master", "btree")}
    roots = [("sqlite_master", 1), *((t.name, t.root) for t in dump.trees.values())]
    usable = disk.usable
    for name, root in roots:
        stack, seen = [root], set()
        while stack:
            pgno = stack.pop()
            if pgno in seen or pgno not in current:
                continue
            seen.add(pgno)
            owners[pgno] = (name, "btree")
            page = parse_page(current[pgno].data, pgno, usable)
            if page is None:
                continue
            for cell in page.cells:
                if cell.left_child:
                    stack.append(cell.left_child)
                nxt, hops = cell.overflow, 0
                while nxt and nxt in current and hops < 10_000:
                    owners[nxt] = (name, "overflow")
                    nxt = struct.unpack(">I", current[nxt].data[:4])[0]
                    hops += 1
            if page.right_child:
                stack.append(page.right_child)
    first = current.get(1)
    trunk = struct.unpack(">I", first.data[32:36])[0] if first else 0
    hops = 0
    while trunk and trunk in current and hops < 10_000:
        owners[trunk] = ("freelist", "free")
        data = current[trunk].data
        count = struct.unpack(">I", data[4:8])[0]
        for i in range(min(count, (usable - 8) // 4)):
            owners[struct.unpack(">I", data[8 + 4 * i : 12 + 4 * i])[0]] = ("freelist", "free")
        trunk = struct.unpack(">I", data[:4])[0]
        hops += 1
    return owners


def _fits(tree: BTree, fields: list[Field], rowid: int | None) -> bool:
    if len(fields) != len(tree.columns):
        return False
    for position, (f, declared) in enumerate(zip(fields, tree.types, strict=True)):
        expected = SQL_TYPES.get(declared)
        if f.value is None or expected is None:
            continue
        if position == tree.rowid_alias:
            return False
        if not isinstance(f.value, expected):
            return False
    return True


def _time_score(tree: BTree, fields: list[Field]) -> int:
    """How many columns hold a Unix time exactly where the tree's column names say a time is (*_at, at)."""
    score = 0
    for name, f in zip(tree.columns, fields, strict=True):
        is_time = isinstance(f.value, int) and 1_000_000_000 <= f.value <= 4_000_000_000
        score += int(is_time == (name.endswith("_at") or name == "at"))
    return score


def guess_tree(trees: dict[str, BTree], kind: int, fields: list[Field], rowid: int | None) -> str:
    """The table or index whose shape fits a record best (for pages nothing reaches any more)."""
    index_page = kind in (INDEX_LEAF, INDEX_INTERIOR)
    fits = [t for t in trees.values() if t.index_btree == index_page and _fits(t, fields, rowid)]
    if len(fits) > 1:
        best = max(_time_score(t, fields) for t in fits)
        fits = [t for t in fits if _time_score(t, fields) == best]
    return fits[0].name if len(fits) == 1 else "?"


@functools.lru_cache(maxsize=200_000)
def _decode(payload: bytes, base: int) -> list[Field]:
    """decode_record, once per distinct cell (most cells repeat unchanged across WAL versions of a page)."""
    return decode_record(payload, base)


def rows_of(image: PageImage, page: Page, owner: str | None, live: bool, dump: SqlDump,
            current: dict[int, PageImage], usable: int) -> tuple[list[Row], list[tuple[int, int]]]:
    """Decoded rows of one page version, and the byte spans of its blob values (ciphertext)."""
    rows: list[Row] = []
    blobs: list[tuple[int, int]] = []
    if page.kind == TABLE_INTERIOR:
        return rows, blobs

    def page_of(pgno: int) -> bytes | None:
        return current[pgno].data if pgno in current else None

    for index, cell in enumerate(page.cells):
        payload = full_payload(cell, page_of, usable) if cell.overflow else cell.local
        try:
            fields = _decode(payload, cell.local_start)
        except RecordInvalid:
            continue
        blobs += [(f.start, min(f.end, cell.local_start + len(cell.local)))
                  for f in fields if f.serial >= 12 and f.serial % 2 == 0]
        fits = owner in dump.trees and _fits(dump.trees[owner], fields, cell.rowid)
        tree_name = owner if fits and owner else guess_tree(dump.trees, page.kind, fields, cell.rowid)
        tree = dump.trees.get(tree_name)
        if tree is not None and len(tree.columns) == len(fields):
            values = {c: f.value for c, f in zip(tree.columns, fields, strict=True)}
            if tree.rowid_alias is not None:
                values[tree.columns[tree.rowid_alias]] = cell.rowid
        else:
            values = {f"c{i}": f.value for i, f in enumerate(fields)}
        rows.append(Row(tree_name, values, cell.rowid, image, index, cell.offset, live, bool(cell.overflow)))
    return rows, blobs


ImageKey = tuple[str, int | None, int]


@dataclass
class Carved:
    """Every row of every page version, with what the byte-level search needs to place its hits."""

    rows: list[Row] = field(default_factory=list)
    structure: dict[ImageKey, bytes] = field(default_factory=dict)  # each version with ciphertext zeroed
    cells: dict[ImageKey, list[tuple[int, int, str]]] = field(default_factory=dict)  # cell spans, owning tree
    owners: dict[int, tuple[str, str]] = field(default_factory=dict)


def image_key(image: PageImage) -> ImageKey:
    """How a page version is named in Carved's maps."""
    return (image.file, image.frame, image.pgno)


def carve(disk: Disk, dump: SqlDump) -> Carved:
    """Decode every page version; zero its ciphertext for the binary search; note its cells' spans."""
    owners = page_owners(disk, dump)
    current = disk.current()
    carved = Carved(owners=owners)
    rows = carved.rows
    structure = carved.structure
    usable = disk.usable
    for image in disk.images():
        masked = bytearray(image.data)
        masked[usable:] = bytes(len(masked) - usable)
        page = parse_page(image.data, image.pgno, usable)
        owner = owners.get(image.pgno)
        if page is None:
            masked[:] = bytes(len(masked))  # overflow or free page: all ciphertext or nothing, for binary search
        else:
            live = current.get(image.pgno) is image and owner is not None and owner[1] == "btree"
            found, spans = rows_of(image, page, owner[0] if owner and owner[1] == "btree" else None, live, dump,
                                   current, usable)
            rows += found
            for start, end in spans:
                masked[start:end] = bytes(max(0, end - start))
            trees = {row.cell_index: row.tree for row in found}
            carved.cells[image_key(image)] = [
                (c.offset, c.local_start + len(c.local) + (4 if c.overflow else 0), trees.get(i, "?"))
                for i, c in enumerate(page.cells)]
        structure[image_key(image)] = bytes(masked)
    return carved

