"""The leak test: nothing a person typed, and no case reference, is readable anywhere in the server home."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from crypto.envelope import Kind, seal
from crypto.reference import normalise_reference
from intake.requests import Request, request_payload, submit
from staff.direct import ReadState, StaffSession
from storage.cases import EventKind
from storage.server import Server
from tests.conftest import StaffedHome

pytestmark = pytest.mark.timeout(60)

CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"


def _b64_cores(data: bytes) -> list[bytes]:
    """Base64 fragments that appear whatever the alignment of `data` inside a larger encoded payload."""
    cores = []
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for shift in range(3):
            text = encode(b"\x00" * shift + data)
            start = 4 if shift else 0  # the first group mixes in bytes before `data`
            cores.append(text[start:-4])  # the last group may mix in bytes after it
    return cores


def text_forms(text: str) -> dict[str, bytes]:
    """The byte forms in which a string could sit in a file."""
    raw = text.encode("utf-8")
    forms = {
        "utf-8": raw,
        "utf-8 upper": text.upper().encode("utf-8"),
        "utf-16-le": text.encode("utf-16-le"),
        "utf-16-be": text.encode("utf-16-be"),
        "utf-32-le": text.encode("utf-32-le"),
        "json ascii": json.dumps(text, ensure_ascii=True)[1:-1].encode("ascii"),
        "json ascii upper": json.dumps(text, ensure_ascii=True)[1:-1].upper().encode("ascii"),
        "percent": urllib.parse.quote(text).encode("ascii"),
        "hex": raw.hex().encode("ascii"),
        "HEX": raw.hex().upper().encode("ascii"),
        "cp1251": text.encode("cp1251", errors="ignore"),
        "koi8-r": text.encode("koi8_r", errors="ignore"),
    }
    for number, core in enumerate(_b64_cores(raw)):
        forms[f"base64 #{number}"] = core
    return {name: form for name, form in forms.items() if len(form) >= 12}


def reference_patterns(reference: str) -> list[re.Pattern[bytes]]:
    """A reference's 16 digits in any spacing (up to 3 non-digit bytes between digits, so UTF-16 too)."""
    digits = normalise_reference(reference)
    value = int(digits)
    return [
        re.compile(b"[^0-9]{0,3}".join(d.encode() for d in digits)),
        re.compile(re.escape(value.to_bytes(8, "big"))),
        re.compile(re.escape(value.to_bytes(8, "little"))),
    ]


def files_under(root: Path) -> Iterator[Path]:
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_file():
                yield path


def scan(root: Path, forms: dict[str, bytes], patterns: list[re.Pattern[bytes]]) -> list[str]:
    """Every (file, form) where a form occurs."""
    hits = []
    for path in files_under(root):
        data = path.read_bytes()
        for name, form in forms.items():
            if form in data:
                hits.append(f"{path.relative_to(root)}: {name}")
        for pattern in patterns:
            if pattern.search(data):
                hits.append(f"{path.relative_to(root)}: reference {pattern.pattern[:20]!r}")
    return hits


def test_scanner_finds_every_form_it_looks_for(tmp_path: Path) -> None:
    """The control: a leak in any searched form would be found."""
    canary = "Канарейка-" + "".join(secrets.choice(CYRILLIC) for _ in range(16))
    forms = text_forms(canary)
    for name, form in forms.items():
        (tmp_path / "f").write_bytes(os.urandom(100) + form + os.urandom(100))
        assert scan(tmp_path, {name: form}, []), name
    for shift in range(3):
        payload = b"j" * shift + json.dumps({"answers": {"who": canary}}, ensure_ascii=False).encode()
        (tmp_path / "f").write_bytes(base64.b64encode(payload))
        assert scan(tmp_path, forms, []), f"base64 at shift {shift}"
    reference = "1234 567 890 123 456"
    for spaced in ("1234567890123456", "1234-567-890-123-456", "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6"):
        for encoding in ("utf-8", "utf-16-le"):
            (tmp_path / "f").write_bytes(os.urandom(64) + spaced.encode(encoding) + os.urandom(64))
            assert scan(tmp_path, {}, reference_patterns(reference)), (spaced, encoding)


def _canaries() -> dict[str, str]:
    return {
        "latin": "canary-" + secrets.token_hex(16),
        "russian": "Канарейка-" + "".join(secrets.choice(CYRILLIC) for _ in range(24)),
        "chat id": "7" + "".join(secrets.choice("0123456789") for _ in range(11)),
    }


def _work_the_queue(server: Server, staffed: StaffedHome, canaries: dict[str, str]) -> list[str]:
    """Enqueue requests holding the canaries, then claim, note, close, reopen and purge; return the references."""
    now = int(time.time())
    latin, russian, chat = canaries["latin"], canaries["russian"], canaries["chat id"]
    requests = [
        Request({"help": f"need to leave, {latin}", "contact": latin}, "en", "telegram", chat.encode()),
        Request({"помощь": f"меня ищут, {russian}", "имя": russian}, "ru", "telegram", chat.encode()),
        Request({"help": f"{russian} / {latin}", "city": "Grozny"}, "ru", "cli"),
        Request({"who": russian * 3}, "ru", "telegram", f"chat:{chat}".encode()),
        Request({"help": latin * 40}, "en", "cli"),
        Request({"note": f"{latin}\n{russian}"}, "ru", "cli"),
    ]
    receipts = [submit(server, r, now) for r in requests]
    assert all(len(request_payload(r, now)) > 0 for r in requests)
    ids = [r.case_id for r in receipts]
    cases = server.cases
    cases.claim(ids[0], "cas-main", now)
    cases.claim(ids[1], "cas-main-2", now)
    note = seal(f"called back: {russian} {latin}".encode(), kind=Kind.NOTE, case_id=ids[0], queue="main",
                recipients=[staffed.staff["cas-main"].box_private.public_key],
                signer=server.bot_identity().signing_key)
    cases.add_event(ids[0], EventKind.NOTE, "cas-main", now, note)
    cases.close(ids[0], "cas-main", now)
    cases.close(ids[2], "cas-main", now)
    cases.close(ids[4], "cas-main", now)
    cases.reopen(ids[2], "cas-main", now)
    # Stored times are coarse: "closed before the next time bucket", "active in this one".
    granularity = server.config.privacy.time_granularity_seconds
    purged = cases.purge_closed(closed_before=now + granularity, quiet_since=now, now=now)
    assert purged == [ids[4]]
    views = StaffSession.start(server, staffed.staff["cas-main"], now).list()
    assert len(views) == 5 and all(v.state is ReadState.OK for v in views)
    assert any(latin in json.dumps(v.request, ensure_ascii=False) for v in views)  # the content is really there
    return [r.reference for r in receipts]


def test_no_canary_and_no_reference_anywhere_in_the_home_while_open_and_after_close(
    staffed_home: StaffedHome, tmp_path: Path
) -> None:
    canaries = _canaries()
    forms = {f"{label} {name}": form for label, text in canaries.items() for name, form in text_forms(text).items()}
    server = staffed_home.open()
    try:
        references = _work_the_queue(server, staffed_home, canaries)
        patterns = [p for ref in references for p in reference_patterns(ref)]
        assert (staffed_home.root / "waystation.db-wal").exists(), "the WAL should be scanned while it exists"
        assert scan(tmp_path, forms, patterns) == []
    finally:
        server.close()
    assert scan(tmp_path, forms, patterns) == []
    scanned = {p.relative_to(staffed_home.root).as_posix() for p in files_under(staffed_home.root)}
    assert {"waystation.db", "config.toml", "roster.json", "trusted_admins", "secrets/db.key",
            "secrets/bot_identity.json", "secrets/reference_pepper"} <= scanned
