"""MemoryDenyWriteExecute=yes: the service's whole native stack runs under systemd's exact filter.

tests/deploy/mdwe.py installs the same seccomp rules as systemd (via libseccomp) and execs the
workload, which first proves that a writable+executable mapping is refused, then runs PyNaCl,
SQLCipher, backup/restore/rekey, python-telegram-bot against the sandbox, uvicorn and logging.
"""

from __future__ import annotations

import ctypes.util
import subprocess
import sys

import pytest

from tests.deploy.conftest import REPO


def test_the_service_stack_needs_no_writable_executable_memory() -> None:
    if not ctypes.util.find_library("seccomp"):
        pytest.skip("libseccomp is not installed here (apt-get install libseccomp2)")
    done = subprocess.run([sys.executable, str(REPO / "tests" / "deploy" / "mdwe.py"), sys.executable,
                           str(REPO / "tests" / "deploy" / "mdwe_workload.py")],
                          capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert done.returncode == 0 and "WORKLOAD-OK" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]


def test_the_filter_really_refuses_writable_executable_memory() -> None:
    if not ctypes.util.find_library("seccomp"):
        pytest.skip("libseccomp is not installed here (apt-get install libseccomp2)")
    probe = ("import mmap\ntry:\n    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
             "except PermissionError:\n    print('refused')\n")
    done = subprocess.run([sys.executable, str(REPO / "tests" / "deploy" / "mdwe.py"), sys.executable, "-c", probe],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.strip() == "refused", done.stdout + done.stderr
