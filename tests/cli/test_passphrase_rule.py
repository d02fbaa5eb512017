"""`keys new` refuses a weak passphrase, from WAYSTATION_PASSPHRASE or typed at a real terminal, and says the rule."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from crypto.keys import load_identity
from tests.cli.runner import assert_user_error, child_env, ok, run, waystation_command
from waystation.passphrases import RULE, weakness

WEAK = ["x", "12345678", "hunter2hunter2", "aaaaaaaaaaaaaaaa", "abcabcabcabcabc", "123456789012345", "qwertyuiopasdf",
        "Password2024!", "P@ssw0rd!!1234", "W4yst4ti0n2026", "zyxwvutsrqponmlk"]
STRONG = ["correct horse battery staple", "fjord lamp seven quiet orbit", "Mj8#kQ2!vX9zLp"]


@pytest.mark.parametrize("passphrase", WEAK)
def test_the_rule_finds_each_weak_passphrase(passphrase: str) -> None:
    assert weakness(passphrase) is not None


@pytest.mark.parametrize("passphrase", STRONG)
def test_the_rule_accepts_long_varied_passphrases(passphrase: str) -> None:
    assert weakness(passphrase) is None


@pytest.mark.parametrize("passphrase", ["x", "Password2024!"])
def test_keys_new_refuses_a_weak_passphrase_from_the_environment_and_says_the_rule(tmp_path: Path,
                                                                                  passphrase: str) -> None:
    result = run("keys", "new", "--name", "Me", "--out", tmp_path / "me.key", "--kdf", "interactive",
                 passphrase=passphrase)
    line = assert_user_error(result, "too weak", "WAYSTATION_PASSPHRASE", RULE)
    assert passphrase not in line.replace(RULE, "")
    assert list(tmp_path.iterdir()) == []


def test_keys_new_with_a_strong_passphrase_writes_a_key_it_opens(tmp_path: Path) -> None:
    ok("keys", "new", "--name", "Me", "--out", tmp_path / "me.key", "--kdf", "interactive",
       passphrase="fjord lamp seven quiet orbit")
    load_identity((tmp_path / "me.key").read_bytes(), b"fjord lamp seven quiet orbit")


def _typed(args: list[str], answers: list[bytes], timeout: float = 60) -> tuple[int, str]:
    """Run `waystation ARGS` on a pseudo-terminal, typing each answer when a prompt ends with ': '."""
    master, slave = pty.openpty()
    process = subprocess.Popen(waystation_command() + args, stdin=slave, stdout=slave, stderr=slave,
                               env=child_env(None), close_fds=True)
    os.close(slave)
    output, pending, deadline = b"", list(answers), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    output += os.read(master, 65536)
                except OSError:
                    break
                if pending and output.rstrip(b" ").endswith(b":"):
                    os.write(master, pending.pop(0) + b"\n")
            elif process.poll() is not None:
                break
        code = process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    return code, output.decode("utf-8", "replace")


def test_at_a_terminal_a_weak_passphrase_is_asked_again_with_the_rule(tmp_path: Path) -> None:
    key = tmp_path / "me.key"
    code, output = _typed(["keys", "new", "--name", "Me", "--out", str(key), "--kdf", "interactive"],
                          [b"x", b"x", b"fjord lamp seven quiet orbit", b"fjord lamp seven quiet orbit"])
    assert code == 0, output
    assert "too weak: it has 1 characters" in output and RULE in output and "Traceback" not in output, output
    load_identity(key.read_bytes(), b"fjord lamp seven quiet orbit")


def test_at_a_terminal_three_weak_passphrases_give_up_without_writing(tmp_path: Path) -> None:
    code, output = _typed(["keys", "new", "--name", "Me", "--out", str(tmp_path / "me.key"), "--kdf", "interactive"],
                          [b"password1", b"password1"] * 3)
    assert code == 1 and "Error: no passphrase strong enough was given" in output, output
    assert list(tmp_path.iterdir()) == []
