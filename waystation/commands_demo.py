"""`waystation demo`: the whole system on one machine, with a throw-away home and keys.

It creates a home, an admin and a caseworker key, signs a roster, then starts
the sandbox messenger and the bot as child processes and prints where to chat
and how to read what was sent. `--scripted` plays one person through the
sandbox and shows the decrypted case, then stops (used by the tests).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import httpx
import nacl.utils

from crypto.keys import KDF_INTERACTIVE, Identity, dump_identity, dump_public
from crypto.roster import DAY, Member, Role, new_roster, sign_roster
from staff.direct import StaffSession
from storage.files import write_new
from storage.home import init_home
from storage.server import Server
from waystation.common import now

DEMO_TOKEN_ID = "100000001"


def _step(text: str) -> None:
    click.secho(f"\n== {text}", bold=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _make_keys(base: Path, passphrase: bytes) -> dict[str, Identity]:
    people: dict[str, Identity] = {}
    for label, name in (("admin", "Demo Admin"), ("caseworker", "Demo Caseworker")):
        identity = Identity.generate(name)
        key_path = base / f"{label}.key"
        write_new(key_path, dump_identity(identity, passphrase, KDF_INTERACTIVE))
        write_new(key_path.with_name(key_path.name + ".pub"), dump_public(identity.public), 0o644)
        people[label] = identity
        click.echo(f"{name:<16} fingerprint {identity.public.fingerprint()}  ({key_path})")
    return people


def _configure(home: Path, sandbox_port: int, api_port: int) -> None:
    config = (home / "config.toml").read_text(encoding="utf-8")
    config = config.replace('api_base_url = "https://api.telegram.org/bot"',
                            f'api_base_url = "http://127.0.0.1:{sandbox_port}/bot"')
    config = config.replace('listen = "127.0.0.1:8765"', f'listen = "127.0.0.1:{api_port}"')
    config = config.replace("delete_after_seconds = 600", "delete_after_seconds = 300")
    # The sealed form (issue 11) is served by the bot's own listener; the sandbox opens it in its Mini App panel.
    config = config.replace('public_url = ""', f'public_url = "http://127.0.0.1:{api_port}"')
    (home / "config.toml").write_text(config, encoding="utf-8")
    token = DEMO_TOKEN_ID + ":" + nacl.utils.random(24).hex()[:35]
    write_new(home / "secrets" / "bot_token", token.encode("ascii") + b"\n")


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "waystation", *args], stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    finally:
        handle.close()


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"{what} stopped; see {log}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise click.ClickException(f"{what} did not start within 30 s; see {log}")


def _play_one_person(sandbox_port: int) -> None:
    """One person through the sandbox's control API, as a browser would."""
    api = f"http://127.0.0.1:{sandbox_port}/sandbox/api"
    client = httpx.Client(timeout=10)
    chat = client.post(f"{api}/users", json={"first_name": "Demo Person", "language_code": "en"}).json()["chat_id"]

    def bot_messages() -> list[dict[str, object]]:
        msgs = client.get(f"{api}/chats/{chat}/messages").json()["messages"]
        return [m for m in msgs if m["side"] == "bot"]

    def press(data: str) -> None:
        for _ in range(100):
            for m in reversed(bot_messages()):
                markup = m.get("reply_markup") or {}
                rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
                if any(b.get("callback_data") == data for row in rows for b in row):
                    client.post(f"{api}/chats/{chat}/callback", json={"message_id": m["message_id"], "data": data})
                    return
            time.sleep(0.1)
        raise click.ClickException(f"the bot never offered the button {data!r}")

    def wait_for(fragment: str) -> None:
        for _ in range(100):
            if any(fragment in str(m.get("text")) for m in bot_messages()[-1:]):
                return
            time.sleep(0.1)
        raise click.ClickException(f"the bot never said {fragment!r}")

    def say(text: str) -> None:
        client.post(f"{api}/chats/{chat}/messages", json={"text": text})

    say("/start")
    press("c")
    press("a:help:leave")
    press("a:urgency:now")
    wait_for("Which country")
    say("Example Country")
    press("s:region")
    wait_for("contact you back")
    say("this chat, evenings")
    press("s:details")
    press("r")
    wait_for("Your reference")
    click.echo("a person completed the intake in the sandbox chat")


@click.command()
@click.option("--dir", "base", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where to put the demo home and keys (default: a new temporary directory).")
@click.option("--port", type=click.IntRange(0, 65535), default=8081, show_default=True,
              help="Port of the sandbox chat page (0: any free port).")
@click.option("--scripted", is_flag=True, help="Play one person through the chat, show the case, then stop.")
def demo(base: Path | None, port: int, scripted: bool) -> None:
    """Run everything locally: sandbox messenger, bot, and the caseworker's view of what was sent."""
    base = base or Path(tempfile.mkdtemp(prefix="waystation-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    home_path = base / "home"
    passphrase = nacl.utils.random(8).hex().encode()  # throw-away: these keys protect nothing real

    _step(f"a server home at {home_path}: config.toml, secrets/, waystation.db (SQLCipher)")
    home = init_home(home_path)
    _step("keys for an admin and a caseworker (on their own laptops in real life)")
    people = _make_keys(base, passphrase)
    _step("the admin signs a roster with the caseworker on queue 'main'")
    t = now()
    with Server.open(home.root) as server:
        admin = people["admin"]
        roster = new_roster(admin.public, t, 30, 365).with_member(
            Member(people["caseworker"].public, Role.CASEWORKER, ("main",), t, t + 365 * DAY), t, 30)
        server.save_roster(sign_roster(roster, admin), t, new_admins=[(admin.signing_key.verify_key, admin.name)])

    sandbox_port = port or _free_port()
    api_port = _free_port()
    _configure(home_path, sandbox_port, api_port)
    _step("starting the sandbox messenger and the bot")
    sandbox = _spawn(["sandbox", "--port", str(sandbox_port)], base / "sandbox.log")
    bot = None
    try:
        _wait_http(f"http://127.0.0.1:{sandbox_port}/", sandbox, "the sandbox", base / "sandbox.log")
        bot = _spawn(["bot", "run", "--home", str(home_path)], base / "bot.log")
        _wait_http(f"http://127.0.0.1:{api_port}/healthz", bot, "the bot", base / "bot.log")
        staff_cmd = (f"WAYSTATION_PASSPHRASE={passphrase.decode()} waystation staff list "
                     f"--home {home_path} --key {base / 'caseworker.key'}")
        if scripted:
            _play_one_person(sandbox_port)
            _step("the caseworker verifies and decrypts with their own key")
            with Server.open(home.root) as server:
                for view in StaffSession.start(server, people["caseworker"], now()).list():
                    click.echo(f"case {view.case.id} [{view.state.value}]")
                    for name, value in ((view.request or {}).get("answers") or {}).items():
                        click.echo(f"  {name}: {value}")
            click.echo(f"\nthe same from the command line: {staff_cmd}")
            return
        click.secho(f"\nChat with the bot:  http://127.0.0.1:{sandbox_port}/", bold=True)
        click.echo(f"Read what was sent: {staff_cmd}")
        click.echo(f"Logs: {base / 'bot.log'}, {base / 'sandbox.log'}.  Ctrl+C stops everything.")
        while sandbox.poll() is None and bot.poll() is None:
            time.sleep(0.5)
        raise click.ClickException(f"a demo process stopped; see the logs in {base}")
    except KeyboardInterrupt:
        click.echo("\nstopping")
    finally:
        for process in (bot, sandbox):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (bot, sandbox):
            if process is not None:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
