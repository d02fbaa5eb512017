"""`waystation staff desk` as a caseworker starts it: a real process over the live staff API, or a server home."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx

from staff.tui.desk import DeskThread
from staff.web.app import DeskApp, Settings
from staff.web.gate import Gate
from staff.web.life import Life
from staff.web.state import DeskState
from tests.bot.harness import Process, spawn, wait_until, waystation
from tests.cli.runner import PASSPHRASE, run
from tests.staff.conftest import REQUEST_CANARY, Site
from tests.staff.web.conftest import HOST, Clock, notice


def start(site: Site, *extra: str, passphrase: str = PASSPHRASE) -> tuple[Process, str]:
    env = {"WAYSTATION_PASSPHRASE": passphrase, "WAYSTATION_CONFIG_DIR": str(site.tmp / "config"), "BROWSER": "false"}
    process = spawn(waystation("staff", "desk", "--server", site.url, "--key", str(site.key_files["cas-main"]),
                               "--no-browser", *extra), site.tmp / "desk.log", env=env)

    def url() -> str | None:
        if process.popen.poll() is not None:
            raise AssertionError(f"the desk exited: {process.log()}")
        found = re.search(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_-]{40,}", process.log())
        return found.group(0) if found else None

    return process, wait_until(url, 60, what="the desk's URL")


def test_ctrl_c_ends_the_desk(site: Site) -> None:
    process, url = start(site)
    base = url.split("/s/")[0]
    assert httpx.get(base + "/").status_code == 403
    process.popen.send_signal(signal.SIGINT)
    assert process.popen.wait(30) == 0, process.log()
    assert "The desk has ended." in process.log() and "Traceback" not in process.log()
    try:
        httpx.get(base + "/", timeout=2)
        raise AssertionError("the desk still answers after Ctrl+C")
    except httpx.HTTPError:
        pass


def test_the_real_desk_trades_the_secret_once_for_a_cookie(site: Site) -> None:
    process, url = start(site)
    try:
        with httpx.Client(follow_redirects=True) as browser:
            entered = browser.get(url)
            assert entered.status_code == 200 and "Inbox" in entered.text
            assert browser.get(url.split("/s/")[0] + "/help").status_code == 200
        with httpx.Client() as other:
            assert other.get(url).status_code == 404
            assert other.get(url.split("/s/")[0] + "/").status_code == 403
    finally:
        process.stop(signal.SIGINT)


def test_a_wrong_passphrase_stops_before_anything_listens(site: Site) -> None:
    result = run("staff", "desk", "--server", site.url, "--key", site.key_files["cas-main"], "--no-browser",
                 passphrase="not the passphrase", env={"WAYSTATION_CONFIG_DIR": str(site.tmp / "config")})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "http://127.0.0.1" not in result.stdout


def test_a_volunteer_key_is_refused(site: Site) -> None:
    result = run("staff", "desk", "--server", site.url, "--key", site.key_files["vol"], "--no-browser",
                 env={"WAYSTATION_CONFIG_DIR": str(site.tmp / "config")})
    assert result.returncode == 1 and "not a caseworker" in result.stderr and "Traceback" not in result.stderr


def test_direct_mode_on_a_server_home(site: Site, tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from crypto.keys import load_identity
    from staff.direct import DirectDesk

    identity = load_identity(site.key_files["cas-main"].read_bytes(), PASSPHRASE.encode())
    state = DeskState(lambda _passphrase: lambda: DirectDesk.open(site.root, identity))
    state.adopt(DeskThread(lambda: DirectDesk.open(site.root, identity)))
    clock, gate = Clock(), Gate()
    app = DeskApp(state, gate, Life(clock, 600), Settings(notice, hosts={HOST}, refresh_seconds=3600, clock=clock))
    try:
        with TestClient(app.app, base_url=f"http://{HOST}") as client:
            client.get(f"/s/{gate.url_secret}")
            case = site.cases["main"]
            assert case[:8] in client.get("/").text
            client.post(f"/case/{case}/claim", data={"token": gate.form_token})
            assert 'id="claimed-by">cas-main<' in client.get(f"/case/{case}").text
            assert REQUEST_CANARY in client.get(f"/case/{case}").text
    finally:
        if state.thread is not None:
            state.thread.close()
