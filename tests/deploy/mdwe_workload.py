"""What the service does, in one process, for tests/deploy/test_mdwe.py to run under MemoryDenyWriteExecute.

Proves the filter is on (a writable+executable mapping is refused), then exercises every native
part Waystation loads: PyNaCl/libsodium through cffi (Argon2id, sealing, signing), SQLCipher
(WAL, export, rekey), python-telegram-bot over httpx/anyio against the sandbox under uvicorn,
Starlette, and the JSON logging. Prints WORKLOAD-OK at the end.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import io
import mmap
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def filter_is_on() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    address = libc.mmap(None, 4096, mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC,
                        mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if address not in (None, ctypes.c_void_p(-1).value) or ctypes.get_errno() != errno.EPERM:
        raise SystemExit("the MemoryDenyWriteExecute filter is not active")


def storage_and_crypto(base: Path) -> None:
    from crypto.keys import KDF_INTERACTIVE, dump_identity, load_identity
    from intake.requests import Request, submit
    from ops.backup import restore_backup, write_backup
    from ops.rekey import rotate_db_key
    from staff.direct import ReadState, StaffSession
    from storage.home import Home
    from tests.conftest import build_staffed_home

    staffed = build_staffed_home(base / "home")
    identity = load_identity(dump_identity(staffed.admin, b"pass", KDF_INTERACTIVE), b"pass")
    with staffed.open() as server:
        case_id = submit(server, Request({"help": "mdwe"}), int(time.time())).case_id
        view = StaffSession.start(server, staffed.staff["cas-main"], int(time.time())).read(server.cases.fetch(case_id))
        assert view.state is ReadState.OK
    write_backup(Home(staffed.root), base / "b.backup", [identity.box_private.public_key], int(time.time()), environ={})
    restore_backup(base / "b.backup", base / "restored", identity.box_private, int(time.time()))
    rotate_db_key(Home(base / "restored"), Home(base / "restored").db_key_path, environ={})


def bot_stack() -> None:
    from telegram.ext import ApplicationBuilder

    import waystation.service  # noqa: F401 - the service's imports (uvicorn, starlette, bot.app)
    from sandbox import SandboxSettings
    from sandbox.testing import running_sandbox
    from storage.config import parse_config
    from waystation.logging_setup import configure_logging

    configure_logging(parse_config('[logging]\nformat = "json"\n'), stream=io.StringIO())
    with running_sandbox(SandboxSettings.unlimited()) as sandbox:
        application = ApplicationBuilder().token("123456789:" + "AAF1sandboxTOKENforTESTSonly-0123_x") \
            .base_url(sandbox.bot_base_url).build()

        async def talk() -> None:
            async with application:
                me = await application.bot.get_me()
                assert me.is_bot

        asyncio.run(talk())


if __name__ == "__main__":
    filter_is_on()
    with tempfile.TemporaryDirectory() as tmp:
        storage_and_crypto(Path(tmp))
    bot_stack()
    print("WORKLOAD-OK", flush=True)
