"""The upgrade and rollback of docs/deploy.md (A.9, A.10), run on a live install: intake never refused.

Releases are built by the real deploy/waystation-release (which runs deploy/install-venv.sh, the
hash-pinned dependencies and a clean wheel) into a temporary prefix. The bot runs as
`PREFIX/current/venv/bin/waystation bot run`, the path the systemd unit runs, against the sandbox
Bot API, and a person is driven through intake before and after every switch, and writes to the
bot while it restarts. systemd is not running here: a restart is what `systemctl restart` does,
SIGTERM and a new start through the symlink. Slow: each release is a real venv (about 30 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bot import texts
from crypto.keys import KDF_MINIMUM, dump_identity
from tests.bot.flows import complete_intake, tr
from tests.bot.harness import (
    TOKEN,
    Person,
    Process,
    Sandbox,
    configure_home,
    start_sandbox,
    wait_until,
)
from tests.conftest import StaffedHome, build_staffed_home
from tests.deploy.conftest import DEPLOY, assemble_build_context

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PASSPHRASE = "upgrade test passphrase"
PROBE = "release_probe"  # a module release A has and later releases deleted
ANSWERS: dict[str, str | None] = {"help": "leave", "urgency": "days", "country": "Country A", "region": None,
                                  "contact": "this chat", "details": "upgrade day"}


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a command run on the server: nothing of the test's venv or our variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WAYSTATION_", "VIRTUAL_ENV", "PYTHON")) and k != "CREDENTIALS_DIRECTORY"}
    return {**env, **extra}


@dataclass
class Install:
    """A prefix like /opt/waystation: src/ (the checkout), releases/, current and previous."""

    prefix: Path

    @property
    def src(self) -> Path:
        return self.prefix / "src"

    def release(self, *args: str) -> str:
        """Run deploy/waystation-release; its standard output."""
        done = subprocess.run(["sh", str(DEPLOY / "waystation-release"), *args], capture_output=True, text=True,
                              env=_clean_env(WAYSTATION_PREFIX=str(self.prefix), PYTHON=sys.executable),
                              cwd=self.prefix, timeout=600, check=False)
        assert done.returncode == 0, f"waystation-release {' '.join(args)}: {done.stdout}{done.stderr[-3000:]}"
        return done.stdout

    def current(self) -> str:
        return Path(os.readlink(self.prefix / "current")).name

    def waystation(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The CLI as the admin runs it: through the stable symlink."""
        done = subprocess.run([str(self.prefix / "current" / "venv" / "bin" / "waystation"), *map(str, args)],
                              capture_output=True, text=True, env=_clean_env(WAYSTATION_PASSPHRASE=PASSPHRASE),
                              cwd=self.prefix, timeout=120, check=False)
        assert not check or done.returncode == 0, f"waystation {args}: {done.stdout}{done.stderr}"
        return done

    def version(self) -> str:
        return self.waystation("--version").stdout.strip().rsplit(" ", 1)[-1]

    def cases(self, home: Path) -> int:
        stats = json.loads(self.waystation("queue", "stats", "--home", home, "--json").stdout)["queues"]
        return sum(sum(counts.values()) for counts in stats.values())


def _bump_version(src: Path, suffix: str) -> str:
    project = src / "pyproject.toml"
    text = project.read_text()
    version = re.search(r'^version = "([^"]+)"$', text, re.MULTILINE)
    assert version is not None
    new = version.group(1) + suffix
    project.write_text(text.replace(version.group(0), f'version = "{new}"'))
    return new


def _source(dest: Path) -> Path:
    """A checkout as the build sees it (what the image copies, plus deploy/), with release A's probe module."""
    assemble_build_context(dest)
    (dest / "waystation" / f"{PROBE}.py").write_text('"""Only release A has this module."""\n')
    return dest


@dataclass
class RunningBot:
    """`waystation bot run` started through PREFIX/current, as the systemd unit starts it."""

    process: Process
    port: int

    def interpreter(self) -> str:
        """The interpreter the kernel ran: the shebang of the release the link named at start."""
        return Path(f"/proc/{self.process.popen.pid}/cmdline").read_bytes().split(b"\0")[0].decode()

    def stop(self) -> None:
        code = self.process.stop(signal.SIGTERM)
        assert code == 0, self.process.log()


def _launch(install: Install, home: Path, log: Path) -> Process:
    handle = log.open("ab")
    popen = subprocess.Popen([str(install.prefix / "current" / "venv" / "bin" / "waystation"), "bot", "run",
                              "--home", str(home)], stdout=handle, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=_clean_env(), cwd=install.prefix)
    handle.close()
    return Process(popen, log)


def start(install: Install, home: Path, port: int, log: Path) -> RunningBot:
    """Start the bot and wait until its staff API answers."""
    process = _launch(install, home, log)

    def ready() -> bool:
        if process.popen.poll() is not None:
            raise AssertionError(f"the bot exited: {process.log()}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, 60, what="the bot to start")
    return RunningBot(process, port)


def intake(sandbox: Sandbox, people: list[Person]) -> None:
    """A new person completes the form and gets a reference: intake was not refused."""
    person = sandbox.person("en")
    people.append(person)
    assert complete_intake(person, "en", ANSWERS) is not None


def restart_with_a_person_waiting(install: Install, bot: RunningBot, sandbox: Sandbox, home: Path,
                                  log: Path, people: list[Person]) -> RunningBot:
    """Stop the bot, have someone write while it is down, start it through the link: they are answered."""
    bot.stop()
    waiting = sandbox.person("en")
    people.append(waiting)
    waiting.say("/start")
    restarted = start(install, home, bot.port, log)
    waiting.wait_for_text(tr("en", texts.CONSENT), timeout=30)
    return restarted


def no_refusal(people: list[Person], *logs: Path) -> None:
    """Nobody was told to try later, and no log holds a traceback or an error."""
    refused = tr("en", texts.SUBMIT_FAILED)
    for person in people:
        assert not [m for m in person.bot_messages() if refused in (m.get("text") or "")]
    for log in logs:
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and " ERROR " not in text and "ERROR waystation" not in text, text


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = start_sandbox(tmp_path_factory.mktemp("sandbox"), "--per-chat-rate", "0", "--global-rate", "0")
    yield box
    box.process.stop()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Install, str]:
    """A prefix with release A built from src/ and switched to (deploy.md A.1)."""
    install = Install(tmp_path_factory.mktemp("opt"))
    _source(install.src)
    first = install.release("install").strip()
    install.release("switch", first)
    return install, first


@pytest.fixture
def home(tmp_path: Path, sandbox: Sandbox) -> tuple[StaffedHome, int]:
    staffed = build_staffed_home(tmp_path / "home")
    return staffed, configure_home(staffed.root, sandbox)


def test_upgrade_and_rollback_keep_intake_working(installed: tuple[Install, str], sandbox: Sandbox,
                                                  home: tuple[StaffedHome, int], tmp_path: Path) -> None:
    install, first = installed
    install.release("switch", first)
    staffed, port = home
    log = tmp_path / "bot.log"
    people: list[Person] = []
    bot = start(install, staffed.root, port, log)
    assert f"/releases/{first}/venv/bin/" in bot.interpreter()
    intake(sandbox, people)

    # Upstream deletes a module and bumps the version; `git pull` leaves stale build output behind.
    (install.src / "waystation" / f"{PROBE}.py").unlink()
    stale = install.src / "build" / "lib" / "waystation" / f"{PROBE}.py"
    stale.parent.mkdir(parents=True)
    stale.write_text('"""Left in build/ by an earlier in-place build."""\n')
    version = _bump_version(install.src, ".post1")

    # A.9: build the new release while the bot runs, back up with the running version, switch, restart.
    second = install.release("install").strip()
    assert second != first and second.endswith(version)
    intake(sandbox, people)  # building did not disturb the running bot
    backups = tmp_path / "backups"
    backups.mkdir()
    install.waystation("backup", "--home", staffed.root, "--out", backups)
    install.release("switch", second)
    assert install.current() == second and install.version() == version
    bot = restart_with_a_person_waiting(install, bot, sandbox, staffed.root, log, people)
    assert f"/releases/{second}/venv/bin/" in bot.interpreter()
    intake(sandbox, people)
    assert install.cases(staffed.root) == 3

    # The module upstream deleted is gone from the new release, stale build/ or not; the old one keeps it.
    site = install.prefix / "releases"
    assert not list((site / second).rglob(f"{PROBE}*")), "a deleted module was shipped"
    assert list((site / first).rglob(f"{PROBE}.py"))
    gone = subprocess.run([str(site / second / "venv" / "bin" / "python"), "-c", f"import waystation.{PROBE}"],
                          capture_output=True, text=True, env=_clean_env(), cwd=tmp_path, timeout=60, check=False)
    assert gone.returncode == 1 and "ModuleNotFoundError" in gone.stderr

    # A.10: roll back (same schema: nothing else to do), restart, intake again.
    install.release("rollback")
    assert install.current() == first and install.version() != version
    bot = restart_with_a_person_waiting(install, bot, sandbox, staffed.root, log, people)
    assert f"/releases/{first}/venv/bin/" in bot.interpreter()
    intake(sandbox, people)
    assert install.cases(staffed.root) == 4
    bot.stop()
    no_refusal(people, log)


def _add_migration(src: Path) -> None:
    schema = src / "storage" / "schema.py"
    text, count = re.subn(r"\n\)\n\nSCHEMA_VERSION = len\(MIGRATIONS\)",
                          '\n    "CREATE TABLE upgrade_probe (id INTEGER PRIMARY KEY) STRICT;",\n)\n\n'
                          "SCHEMA_VERSION = len(MIGRATIONS)", schema.read_text())
    assert count == 1, "storage/schema.py changed shape: update _add_migration"
    schema.write_text(text)


def test_rollback_across_a_migration_restores_the_pre_upgrade_backup(
        installed: tuple[Install, str], sandbox: Sandbox, home: tuple[StaffedHome, int], tmp_path: Path) -> None:
    install, first = installed
    install.release("switch", first)
    staffed, port = home
    log = tmp_path / "bot.log"
    people: list[Person] = []
    bot = start(install, staffed.root, port, log)
    intake(sandbox, people)

    # A release whose database schema is newer.
    newer = _source(tmp_path / "src-newer")
    (newer / "waystation" / f"{PROBE}.py").unlink()
    _bump_version(newer, ".post2")
    _add_migration(newer)
    third = install.release("install", str(newer)).strip()
    backups = tmp_path / "backups"
    backups.mkdir()
    install.waystation("backup", "--home", staffed.root, "--out", backups)  # by the running version, before the switch
    (backup,) = backups.iterdir()
    # The new release's doctor, run before the switch, says that it will migrate (and changes nothing).
    doctor = subprocess.run([str(install.prefix / "releases" / third / "venv" / "bin" / "waystation"), "doctor",
                             "--home", str(staffed.root), "--no-network"], capture_output=True, text=True,
                            env=_clean_env(), cwd=tmp_path, timeout=120, check=False)
    assert "migrates it to" in doctor.stdout, doctor.stdout
    install.release("switch", third)
    bot = restart_with_a_person_waiting(install, bot, sandbox, staffed.root, log, people)
    intake(sandbox, people)  # this case exists only in the migrated database
    assert install.cases(staffed.root) == 2
    bot.stop()

    # Rolled back, the older code refuses the newer schema: one line, no traceback, the file untouched.
    install.release("rollback")
    migrated = hashlib.sha256((staffed.root / "waystation.db").read_bytes()).hexdigest()
    refused = _launch(install, staffed.root, tmp_path / "refused.log")
    assert refused.popen.wait(60) != 0
    assert hashlib.sha256((staffed.root / "waystation.db").read_bytes()).hexdigest() == migrated
    said = refused.log().strip().splitlines()
    assert len(said) == 1 and said[0].startswith("Error: ") and "newer than this Waystation" in said[0], said
    assert "restore the backup made before the upgrade" in said[0]
    checked = install.waystation("doctor", "--home", staffed.root, "--no-network", check=False)
    assert checked.returncode == 1 and "newer than this" in checked.stdout and "A.10" in checked.stdout

    # So the documented way back: restore the pre-upgrade backup (an admin's key), the token, start.
    key = tmp_path / "admin.key"
    key.write_bytes(dump_identity(staffed.admin, PASSPHRASE.encode(), KDF_MINIMUM))
    key.chmod(0o600)
    install.waystation("restore", "--home", staffed.root, "--key", key, "--force", backup)
    assert list(tmp_path.glob("home.before-restore-*")), "the migrated home is kept aside, not deleted"
    token = staffed.root / "secrets" / "bot_token"
    assert not token.exists(), "a backup never holds the bot token"
    token.write_text(TOKEN + "\n")  # put the token back (the restored config still points at the sandbox)
    token.chmod(0o600)
    bot = start(install, staffed.root, port, log)
    intake(sandbox, people)
    # What the rollback lost, as documented: the case taken after the backup.
    assert install.cases(staffed.root) == 2  # the first case and the one just now, not the one under the newer schema
    bot.stop()
    no_refusal(people, log)
