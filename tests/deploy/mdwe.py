"""Run a command under the seccomp filter of systemd's MemoryDenyWriteExecute=yes.

    python tests/deploy/mdwe.py COMMAND [ARGS...]

The filter mirrors systemd 252 (src/shared/seccomp-util.c, seccomp_memory_deny_write_execute):
EPERM for mmap with PROT_WRITE|PROT_EXEC, for mprotect/pkey_mprotect with PROT_EXEC, and for
shmat with SHM_EXEC. It is installed through libseccomp (which systemd itself uses), then the
command is exec'd; seccomp filters survive execve, so the command and its children run under it.
"""

from __future__ import annotations

import ctypes
import os
import sys

PROT_WRITE, PROT_EXEC = 0x2, 0x4
SHM_EXEC = 0o100000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO_EPERM = 0x00050000 | 1
SCMP_CMP_MASKED_EQ = 7


class ScmpArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp."""

    _fields_ = [
        ("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)
    ]


def install_filter() -> None:
    """Load the MemoryDenyWriteExecute filter into this process (and so into what it execs)."""
    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(ScmpArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise OSError("seccomp_init failed")
    rules = (("mmap", PROT_WRITE | PROT_EXEC), ("mprotect", PROT_EXEC), ("pkey_mprotect", PROT_EXEC),
             ("shmat", SHM_EXEC))
    for name, mask in rules:
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            continue
        cmp = ScmpArgCmp(2, SCMP_CMP_MASKED_EQ, mask, mask)
        if lib.seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO_EPERM, number, 1, ctypes.byref(cmp)) != 0:
            raise OSError(f"seccomp_rule_add({name}) failed")
    if lib.seccomp_load(ctx) != 0:
        raise OSError("seccomp_load failed")


if __name__ == "__main__":
    install_filter()
    os.execvp(sys.argv[1], sys.argv[1:])
