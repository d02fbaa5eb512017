"""The container image built and run for real: deploy/build-image.sh, then the running container.

The image is built from Debian packages (no registry is reachable on our machines) by
deploy/build-image.sh with podman. Under run-tests with CI=true the build starts in the background
before pytest, so that it overlaps the other tests; WAYSTATION_IMAGE_BUILD names its directory
(files log, rc, tag). Elsewhere this module builds the image itself.

The container runs as the systemd unit and compose run it: the unit's uid 65532, a read-only root
filesystem with a tmpfs on /tmp, no capabilities, no new privileges; the home is a host directory
at /data/home. It runs `doctor`, then the bot against the sandbox Bot API on the host (host
network), a person completes intake, and a caseworker's signed request to the staff API, from the
host's CLI, lists the case.

Needs root, podman and mmdebstrap (run-tests installs them when CI=true); skipped elsewhere, and a
failure under CI=true, where a green run must mean the image was built and ran.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from crypto.keys import KDF_MINIMUM, dump_identity
from tests.bot.flows import complete_intake
from tests.bot.harness import Sandbox, configure_home, start_sandbox, wait_until
from tests.conftest import StaffedHome, build_staffed_home
from tests.deploy.conftest import DEPLOY

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

UID = 65532  # the systemd unit's and the image's user (deploy/waystation.service, Containerfile USER)
PASS = "image smoke passphrase"
ANSWERS: dict[str, str | None] = {"help": "leave", "urgency": "days", "country": "Country A", "region": None,
                                  "contact": "this chat", "details": "image smoke 7q"}
BUILD_TIMEOUT = 1200  # seconds; the build takes about 2 minutes on an idle 2-core machine


def _podman() -> tuple[list[str], list[str]]:
    """podman with the runtime and limits that work on our CI machines.

    crun (podman's default here) and runc both refuse podman's default RLIMIT_NOFILE (1048576) in
    this sandboxed kernel, and `--ulimit host` still sends it (podman 4.3): give the limits
    explicitly, no higher than this process has.
    """
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = hard if hard != resource.RLIM_INFINITY else 1048576
    return ["podman", "--runtime", "runc"], ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", "nproc=32768:32768"]


def _missing() -> str | None:
    """Why the image cannot be built here, or None."""
    if os.geteuid() != 0:
        return "building and running the image needs root (podman with runc, mmdebstrap)"
    for tool, package in (("podman", "podman"), ("mmdebstrap", "mmdebstrap"), ("runc", "runc")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package}; run-tests does when CI=true)"
    return None


@dataclass(frozen=True)
class Image:
    """A built image and how to run it."""

    tag: str
    podman: list[str]
    limits: list[str]

    def run(self, *args: str, home: Path | None = None, entrypoint: str | None = None, timeout: float = 120,
            ) -> subprocess.CompletedProcess[str]:
        """`podman run` with the unit's user and hardening; the home (if any) at /data/home."""
        command = [*self.podman, "run", "--rm", *self.hardening(home)]
        if entrypoint is not None:
            command += ["--entrypoint", entrypoint]
        return subprocess.run([*command, self.tag, *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)

    def hardening(self, home: Path | None) -> list[str]:
        """What deploy/compose.yaml and the systemd unit impose: uid 65532, read-only root, no capabilities."""
        flags = [*self.limits, "--user", f"{UID}:{UID}", "--read-only", "--cap-drop", "ALL",
                 "--security-opt", "no-new-privileges", "--network", "host",
                 "--tmpfs", "/tmp:size=16m,mode=1777,noexec,nosuid,nodev"]
        if home is not None:
            flags += ["-v", f"{home}:/data/home"]
        return flags


def _wait_for_background_build(directory: Path) -> str:
    """The tag run-tests built in the background, once its build has finished."""
    rc = directory / "rc"
    wait_until(rc.exists, BUILD_TIMEOUT, interval=2, what="the background image build (run-tests)")
    log = (directory / "log").read_text(errors="replace") if (directory / "log").exists() else ""
    if rc.read_text().strip() != "0":
        pytest.fail(f"deploy/build-image.sh failed (run-tests, in the background):\n{log[-4000:]}")
    return (directory / "tag").read_text().strip()


def _build(tag: str, log: Path) -> None:
    started = time.monotonic()
    with log.open("wb") as out:
        done = subprocess.run(["sh", str(DEPLOY / "build-image.sh"), tag], stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=BUILD_TIMEOUT, check=False)
    if done.returncode != 0:
        pytest.fail(f"deploy/build-image.sh failed after {time.monotonic() - started:.0f} s:\n"
                    f"{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Image]:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must build and run the image, but {reason}")
        pytest.skip(reason)
    podman, limits = _podman()
    background = os.environ.get("WAYSTATION_IMAGE_BUILD")
    if background:
        tag = _wait_for_background_build(Path(background))
    else:
        tag = f"localhost/waystation:test-{os.getpid()}"
        _build(tag, tmp_path_factory.mktemp("image") / "build.log")
    yield Image(tag, podman, limits)
    subprocess.run([*podman, "rmi", "--force", tag], capture_output=True, timeout=120, check=False)
    if background:
        shutil.rmtree(background, ignore_errors=True)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = start_sandbox(tmp_path_factory.mktemp("sandbox"))
    yield box
    box.process.stop()


@dataclass
class Home:
    """A staffed home on the host, owned by the container's user, and its staff API port."""

    staffed: StaffedHome
    port: int

    @property
    def root(self) -> Path:
        return self.staffed.root


def _give_to_container_user(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        os.chown(path, UID, UID, follow_symlinks=False)


@pytest.fixture
def home(tmp_path: Path, sandbox: Sandbox) -> Home:
    staffed = build_staffed_home(tmp_path / "home")
    port = configure_home(staffed.root, sandbox)
    _give_to_container_user(staffed.root)
    return Home(staffed, port)


def test_image_runs_as_the_unit_user_with_no_shell_and_a_read_only_root(image: Image) -> None:
    assert image.run("--version").stdout.startswith("waystation, version ")
    probe = image.run("-c", "import os, sys\n"
                            "print(os.getuid(), os.getgid())\n"
                            "for path in ('/opt/venv/probe', '/probe', '/data/probe'):\n"
                            "    try:\n"
                            "        open(path, 'w')\n"
                            "    except OSError as err:\n"
                            "        print(path, err.errno)\n"
                            "    else:\n"
                            "        print(path, 'written')\n", entrypoint="/opt/venv/bin/python")
    assert probe.returncode == 0, probe.stderr
    lines = probe.stdout.splitlines()
    assert lines[0] == f"{UID} {UID}"
    # The root filesystem refuses writes (EROFS = 30), even where the user owns the directory.
    assert "/opt/venv/probe 30" in lines and "/probe 30" in lines
    assert "/data/probe written" in lines, "the /data volume is the one place the bot writes"
    # No shell and no package manager to run, as in distroless.
    for program in ("/bin/sh", "/bin/bash", "/usr/bin/dash", "/usr/bin/dpkg", "/usr/bin/apt-get"):
        refused = image.run("--version", entrypoint=program)
        assert refused.returncode != 0, f"{program} exists in the image"


def test_container_passes_doctor_takes_an_intake_and_answers_a_signed_staff_request(
        image: Image, sandbox: Sandbox, home: Home, tmp_path: Path) -> None:
    doctor = image.run("doctor", "--home", "/data/home", home=home.root)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr

    name = f"waystation-smoke-{os.getpid()}"
    started = subprocess.run([*image.podman, "run", "--detach", "--name", name, *image.hardening(home.root), image.tag],
                             capture_output=True, text=True, timeout=120, check=False)
    assert started.returncode == 0, started.stderr
    try:
        _smoke(image, name, sandbox, home, tmp_path)
    finally:
        subprocess.run([*image.podman, "stop", "--time", "15", name], capture_output=True, timeout=60, check=False)
        logs = subprocess.run([*image.podman, "logs", name], capture_output=True, text=True, timeout=60,
                              check=False)
        subprocess.run([*image.podman, "rm", "--force", name], capture_output=True, timeout=60, check=False)
    output = logs.stdout + logs.stderr
    assert "Traceback" not in output and " ERROR " not in output, output
    assert "image smoke 7q" not in output, "the bot's log holds what the person typed"


def _smoke(image: Image, name: str, sandbox: Sandbox, home: Home, tmp_path: Path) -> None:
    def healthy() -> bool:
        state = subprocess.run([*image.podman, "inspect", "--format", "{{.State.Running}}", name],
                               capture_output=True, text=True, timeout=30, check=False).stdout.strip()
        if state != "true":
            logs = subprocess.run([*image.podman, "logs", name], capture_output=True, text=True, timeout=30,
                                  check=False)
            raise AssertionError(f"the container stopped: {logs.stdout}{logs.stderr}")
        try:
            return httpx.get(f"http://127.0.0.1:{home.port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, 90, interval=0.5, what="the container's /healthz")

    person = sandbox.person("en")
    reference = complete_intake(person, "en", ANSWERS)
    assert reference is not None

    key = tmp_path / "cas-main.key"
    key.write_bytes(dump_identity(home.staffed.staff["cas-main"], PASS.encode(), KDF_MINIMUM))
    env = {**os.environ, "WAYSTATION_PASSPHRASE": PASS, "WAYSTATION_CONFIG_DIR": str(tmp_path / "config")}
    listed = subprocess.run([sys.executable, "-m", "waystation", "staff", "--server", f"http://127.0.0.1:{home.port}",
                             "--key", str(key), "list", "--json"], capture_output=True, text=True, env=env,
                            timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert listed.returncode == 0, listed.stderr
    cases = json.loads(listed.stdout)
    assert len(cases) == 1 and cases[0]["request"]["answers"]["details"] == ANSWERS["details"]
