"""Every cryptographic operation in our code goes through PyNaCl (libsodium).

`cryptography` is installed as a dependency of http-message-signatures, but
our code never imports it: staff/httpsig.py gives that library an Ed25519
algorithm and a SHA-256 built on PyNaCl.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["crypto", "model", "storage", "intake", "ops", "bot", "staff", "staffapi", "waystation", "sandbox"]
FORBIDDEN = {"cryptography", "hashlib", "hmac", "secrets", "random", "Crypto", "nacl.hashlib"}
#: Narrow exceptions, each (file, module): Telegram mandates HMAC-SHA256 for Mini App launch data
#: and PyNaCl has no HMAC, so the sandbox, which signs initData in Telegram's place, uses the
#: standard library's hmac there and nowhere else.
#: The bot checks that launch data with the same HMAC-SHA256 (bot/webform/initdata.py), and nowhere else.
ALLOWED = {("sandbox/initdata.py", "hmac"), ("bot/webform/initdata.py", "hmac")}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_no_other_crypto_or_randomness_library_is_imported(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in imported_modules(path):
            if (str(path.relative_to(ROOT)), name) in ALLOWED:
                continue
            if name in FORBIDDEN or name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_crypto_package_imports_nothing_of_ours_and_does_no_io() -> None:
    for path in (ROOT / "crypto").rglob("*.py"):
        for name in imported_modules(path):
            top = name.split(".")[0]
            assert top not in {"storage", "bot", "staff", "waystation", "os", "pathlib", "time", "socket"}, (path, name)


OURS = {"crypto", "model", "storage", "intake", "ops", "bot", "staff", "staffapi", "waystation", "sandbox"}


@pytest.mark.parametrize(("package", "forbidden"), [
    ("model", OURS - {"crypto", "model"}),
    ("storage", {"intake", "ops", "bot", "staff", "staffapi", "waystation", "sandbox"}),
    ("intake", {"ops", "bot", "staff", "staffapi", "waystation", "sandbox"}),
    ("ops", {"bot", "staff", "staffapi", "waystation", "sandbox"}),
    ("bot", {"ops", "staff", "staffapi", "waystation", "sandbox"}),
    ("staff", {"intake", "ops", "bot", "staffapi", "waystation", "sandbox"}),
    # the server side of the staff API: the signature scheme and error root it shares with staff/, never a client
    ("staffapi", {"intake", "ops", "bot", "waystation", "sandbox"}),
    # the emulator stands in for Telegram: it knows nothing of ours
    ("sandbox", OURS - {"sandbox"}),
])
def test_imports_run_one_way(package: str, forbidden: set[str]) -> None:
    for path in (ROOT / package).rglob("*.py"):
        for name in imported_modules(path):
            assert name.split(".")[0] not in forbidden, (path.relative_to(ROOT), name)


#: staff/'s server side: direct mode, which opens the server home on the server machine.
STAFF_SERVER_SIDE = {"staff/direct.py"}


def test_staff_client_modules_import_no_server_code() -> None:
    # What runs on a caseworker's laptop imports neither storage nor direct mode (tests/staff/test_client_imports.py
    # checks the same by importing them).
    for path in sorted((ROOT / "staff").rglob("*.py")):
        if str(path.relative_to(ROOT)) in STAFF_SERVER_SIDE:
            continue
        for name in imported_modules(path):
            assert name.split(".")[0] not in {"storage", "sqlcipher3"} and name != "staff.direct", (
                path.relative_to(ROOT), name)


def test_staff_api_is_imported_only_by_waystation() -> None:
    for package in PACKAGES:
        if package in {"staffapi", "waystation"}:
            continue
        for path in (ROOT / package).rglob("*.py"):
            assert not any(n.split(".")[0] == "staffapi" for n in imported_modules(path)), path.relative_to(ROOT)
