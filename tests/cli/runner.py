"""Running the real `waystation` console script in a child process, as a person or a script would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PASSPHRASE = "correct horse battery staple"
TIMEOUT = 60
_SCRUBBED = ("WAYSTATION_PASSPHRASE", "WAYSTATION_DB_KEY", "CREDENTIALS_DIRECTORY")


def waystation_command() -> list[str]:
    """The console script of the interpreter running the tests, else one on PATH, else `python -m waystation`.

    The script beside sys.executable comes first so that the tests never run another installation's code.
    """
    beside = Path(sys.executable).with_name("waystation")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("waystation")
    return [found] if found else [sys.executable, "-m", "waystation"]


@dataclass(frozen=True)
class Result:
    """What a finished command left behind."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        command = f"waystation {' '.join(self.args)} -> {self.returncode}"
        return f"{command}\n--stdout--\n{self.stdout}--stderr--\n{self.stderr}"


def child_env(passphrase: str | None = PASSPHRASE, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without our variables, then the passphrase and `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    if passphrase is not None:
        env["WAYSTATION_PASSPHRASE"] = passphrase
    env.update(extra or {})
    return env


def run(*args: str | Path, stdin: bytes | None = None, passphrase: str | None = PASSPHRASE,
        env: dict[str, str] | None = None) -> Result:
    """Run `waystation ARGS` with stdin from `stdin` (not a terminal) and wait for it."""
    argv = [str(a) for a in args]
    done = subprocess.run(
        waystation_command() + argv,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=child_env(passphrase, env),
        timeout=TIMEOUT,
    )
    return Result(tuple(argv), done.returncode, done.stdout.decode("utf-8", "replace"),
                  done.stderr.decode("utf-8", "replace"))


def ok(*args: str | Path, **kwargs: object) -> Result:
    """Run a command that must succeed, quietly."""
    result = run(*args, **kwargs)  # type: ignore[arg-type]
    assert result.returncode == 0, str(result)
    assert "Traceback" not in result.stderr, str(result)
    return result


def assert_user_error(result: Result, *fragments: str) -> str:
    """A user mistake: non-zero exit, exactly one stderr line 'Error: ...', no traceback. Returns the line."""
    assert result.returncode != 0, str(result)
    assert "Traceback" not in result.stderr + result.stdout, str(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, str(result)
    assert lines[0].startswith("Error:"), str(result)
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]
