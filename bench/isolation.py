"""Isolation under flood: a person's step latency alone, next to a flooding chat, next to bad staff-API requests.

Run from the repository root (project installed):

    python bench/isolation.py [--people 10] [--rounds 4] [--seconds 20] [--think 3] [--flood 1000]
                              [--api-rate 200] [--chat-rate 1] [--phases alone,flood,api] [--code DIR] [--keep]

One `waystation sandbox` and the real bot (`waystation bot run` on a freshly
staffed home, its staff API on a loopback port) serve three phases, each with new
people who go through the default intake form over and over (/start, Continue,
choices, typed or skipped answers, Send), waiting uniform(0, 2 x think) seconds
before each action, for about --seconds. The phases run --rounds times, in the
order below and then reversed, so that drift in the machine's load falls on
all three alike; each phase's figures are pooled over the rounds:

1. alone: nothing else happens;
2. flood: one more chat sends --flood messages, every second one /forget, spread
   over the phase (the outside attack of issue 9: it resets nothing any more, and
   it draws 429s);
3. api: --api-rate requests a second go to the staff API, each signed with a
   stranger's key but naming a caseworker's key id (so each one looks like
   staff until its signature is checked), over a few keep-alive connections.

A step's latency is read from the sandbox's event log on its own clock: the
person's action to the bot's first answer in that chat. Figures: p50 and p99
per phase and their ratios to the alone phase (target: each within 1.5x), plus
what the flood drew (429s per chat kind) and what the API answered.

The sandbox keeps Telegram-like limits (30 messages/s per bot, one a second per
chat after a burst of 3). The bot paces each chat to that, so the flooding chat
draws 429s only from a bot that does not (as before issue 9); --chat-rate 0.5
makes the sandbox stricter than the bot's pace, as Telegram may be, so that it
draws them anyway (tests/bot/test_isolation.py checks that case for behaviour).
The bot's CPU use per phase (cores busy, from /proc) is printed too: it depends
far less on other work on the machine than latency does.

--code DIR runs the bot and the sandbox from another checkout of Waystation
(PYTHONPATH=DIR), e.g. an older commit unpacked with `git archive`, to measure
the same phases before a change. This script imports nothing from tests/.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from crypto.keys import Identity
from crypto.roster import DAY, Member, Role, new_roster, sign_roster
from load_people import EventWatcher, Person, create_people, intake_steps, quantile
from staff.httpsig import key_id, sign_request
from storage.home import init_home
from storage.server import Server
from timing import busy_warning, machine

TOKEN = "424242:" + "B" * 35  # made up here: the sandbox accepts any well-formed token
TARGET = 1.5
PHASES = ("alone", "flood", "api")


# -- the server home, the sandbox and the bot --------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def default_config(code: Path | None) -> str:
    """config.toml as `waystation init` writes it, from the checkout that will run (it may know fewer keys)."""
    env = dict(os.environ, PYTHONPATH=str(code)) if code is not None else None
    return subprocess.run([sys.executable, "-c", "from storage.config import DEFAULT_CONFIG; print(DEFAULT_CONFIG)"],
                          check=True, capture_output=True, text=True, env=env, cwd=code).stdout


def code_location(code: Path | None) -> str:
    """Where `import bot` finds the bot in a process spawned as `spawn` does (a check on --code)."""
    env = dict(os.environ, PYTHONPATH=str(code)) if code is not None else None
    return subprocess.run([sys.executable, "-c", "import bot; print(bot.__path__[0])"], check=True,
                          capture_output=True, text=True, env=env, cwd=code).stdout.strip()


def make_home(root: Path, bot_base_url: str, api_port: int, code: Path | None) -> Identity:
    """A home with one admin and one caseworker on a signed roster; returns the caseworker."""
    home = init_home(root)
    (root / "config.toml").write_text(default_config(code))
    admin, caseworker = Identity.generate("Bench Admin"), Identity.generate("bench-caseworker")
    now = int(time.time())
    roster = new_roster(admin.public, now, 30, 365)
    roster = roster.with_member(Member(caseworker.public, Role.CASEWORKER, ("main",), now, now + 365 * DAY), now, 30)
    home.add_trusted_admin(admin.signing_key.verify_key, admin.name)
    with Server.open(root, environ={}) as server:
        server.save_roster(sign_roster(roster, admin), now)
    config = (root / "config.toml").read_text()
    for old, new in (('api_base_url = "https://api.telegram.org/bot"', f'api_base_url = "{bot_base_url}"'),
                     ('listen = "127.0.0.1:8765"', f'listen = "127.0.0.1:{api_port}"')):
        if old not in config:
            raise SystemExit(f"config.toml has no line {old!r}: the default config changed")
        config = config.replace(old, new)
    (root / "config.toml").write_text(config)
    token = root / "secrets" / "bot_token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    return caseworker


def spawn(args: Sequence[str], log: Path, code: Path | None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = str(code) + os.pathsep + env.get("PYTHONPATH", "")
    with log.open("ab") as out:  # run in `code` too: `python -m` puts the working directory first on the path
        return subprocess.Popen([sys.executable, "-m", "waystation", *args], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=code)


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start within 60 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# -- what happens next to the genuine people ---------------------------------------------------

@dataclass
class Background:
    """Counts of what the flooding chat or the API flood did (never content)."""

    sent: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


async def flood_chat(api: str, chat: int, messages: int, seconds: float, done: asyncio.Event,
                     result: Background) -> None:
    """Text and /forget in turn, `messages` of them spread over `seconds` (or until the people are done)."""
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as client:
        for number in range(messages):
            if done.is_set():
                break
            delay = start + number * seconds / messages - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            text = "/forget" if number % 2 else f"flood {number} " + "x" * 40
            reply = await client.post(f"{api}/chats/{chat}/messages", json={"text": text})
            result.sent += 1
            result.answers[str(reply.status_code)] += 1
    result.seconds = time.monotonic() - start


def bad_request(port: int, staff: Identity, stranger: Identity) -> bytes:
    """GET /api/v1/info signed by a stranger under the caseworker's keyid: looks like staff until verified."""
    request = httpx.Request("GET", f"http://127.0.0.1:{port}/api/v1/info")
    sign_request(request, stranger.signing_key, b"", now=time.time())
    signature_input = request.headers["signature-input"].replace(key_id(stranger.signing_key.verify_key),
                                                                  key_id(staff.signing_key.verify_key))
    return (f"GET /api/v1/info HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Signature-Input: {signature_input}\r\nSignature: {request.headers['signature']}\r\n\r\n").encode()


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
    await reader.readexactly(length)
    return int(lines[0].split()[1])


async def flood_api(port: int, staff: Identity, rate: float, done: asyncio.Event, result: Background,
                    connections: int = 4) -> None:
    """`rate` bad requests a second over keep-alive connections, until the people are done."""
    stranger = Identity.generate("stranger")
    request = bad_request(port, staff, stranger)
    start = time.monotonic()
    slots = itertools.count()

    async def one_connection() -> None:
        nonlocal request
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not done.is_set():
                slot = next(slots)
                delay = start + slot / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                if slot % int(rate) == 0:
                    request = bad_request(port, staff, stranger)  # keep "created" fresh
                writer.write(request)
                await writer.drain()
                status = await read_response(reader)
                result.sent += 1
                result.answers[str(status)] += 1
        finally:
            writer.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    result.seconds = time.monotonic() - start


# -- one phase ---------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 where /proc is unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    """What the genuine people saw in one phase (pooled over rounds), and what went on beside them."""

    name: str
    latencies: list[float]
    failures: Counter[str]
    background: Background
    limited: Counter[str]  # 429s the sandbox gave, by whose chat
    bot_cpu: float = 0.0  # CPU seconds the bot used during the phase
    wall: float = 0.0  # seconds the phase lasted

    def add(self, other: Phase) -> None:
        self.latencies += other.latencies
        self.failures += other.failures
        self.limited += other.limited
        self.bot_cpu += other.bot_cpu
        self.wall += other.wall
        self.background.sent += other.background.sent
        self.background.answers += other.background.answers
        self.background.seconds += other.background.seconds


async def run_phase(name: str, api: str, args: argparse.Namespace, seed: int,
                    staff: Identity, api_port: int) -> Phase:
    steps_each = max(9, round(args.seconds / args.think))
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=args.people + 8)) as client:
        chats = await create_people(client, api, args.people + 1)
        people_chats, flooder = chats[:-1], chats[-1]
        async with EventWatcher(client, api) as watcher:
            go, done = asyncio.Event(), asyncio.Event()
            people = []
            for number, chat in enumerate(people_chats):
                rng = random.Random(seed * 1_000_003 + number)
                steps = list(itertools.islice(itertools.chain.from_iterable(intake_steps(rng) for _ in range(99)),
                                              steps_each))
                people.append(Person(client, api, watcher, chat, steps, 60.0, args.think, rng))
            background = Background()
            tasks = [asyncio.create_task(p.run(go)) for p in people]
            extra: asyncio.Task[None] | None = None
            if name == "flood":
                extra = asyncio.create_task(flood_chat(api, flooder, args.flood, args.seconds, done, background))
            elif name == "api":
                extra = asyncio.create_task(flood_api(api_port, staff, args.api_rate, done, background))
            await asyncio.sleep(0.2)
            go.set()
            outcomes = await asyncio.gather(*tasks)
            done.set()
            if extra is not None:
                await extra
            await asyncio.sleep(1.0)
            await watcher.poll()
            limited: Counter[str] = Counter()
            for chat in chats:
                for event in watcher.by_chat[chat]:
                    if event["kind"] == "rate_limited":
                        limited["flooding chat" if chat == flooder else "genuine chats"] += 1
    return Phase(name, [lat for o in outcomes for lat in o.latencies],
                 Counter(o.failure for o in outcomes if o.failure), background, limited)


# -- report ------------------------------------------------------------------------------------

def report(phases: Sequence[Phase], args: argparse.Namespace) -> None:
    alone = phases[0]
    base50, base99 = quantile(alone.latencies, 50), quantile(alone.latencies, 99)
    print(f"\n{'phase':<7} {'steps':>6} {'p50 ms':>8} {'p99 ms':>8} {'p50 x':>7} {'p99 x':>7}"
          f" {'bot cores':>10}  failed")
    for phase in phases:
        p50, p99 = quantile(phase.latencies, 50), quantile(phase.latencies, 99)
        cores = phase.bot_cpu / phase.wall if phase.wall else float("nan")
        print(f"{phase.name:<7} {len(phase.latencies):>6} {p50 * 1000:>8.0f} {p99 * 1000:>8.0f} "
              f"{p50 / base50:>7.2f} {p99 / base99:>7.2f} {cores:>10.2f}  {sum(phase.failures.values())}")
    for phase in phases[1:]:
        bg = phase.background
        rate = bg.sent / bg.seconds if bg.seconds else float("nan")
        answers = ", ".join(f"{n} x {code}" for code, n in sorted(bg.answers.items()))
        print(f"{phase.name}: {bg.sent} sent in {bg.seconds:.0f} s ({rate:.0f}/s), answered {answers}")
    for phase in phases:
        if phase.limited:
            drawn = ", ".join(f"{n} to {who}" for who, n in phase.limited.items())
            print(f"{phase.name}: 429s from the sandbox: {drawn}")
        if phase.failures:
            print(f"{phase.name}: people who could not go on: {dict(phase.failures)}")
    worst = max(quantile(p.latencies, 99) / base99 for p in phases[1:])
    verdict = "within" if worst <= TARGET else "OVER"
    print(f"\nworst p99 ratio {worst:.2f}: {verdict} the {TARGET}x target ({args.people} people, think "
          f"{args.think} s, {args.rounds} rounds of {args.seconds:.0f} s a phase)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--people", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0, help="about how long a phase lasts in one round")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of the three phases, order reversed each round")
    parser.add_argument("--think", type=float, default=3.0, help="mean seconds before each action")
    parser.add_argument("--flood", type=int, default=1000, help="messages the flooding chat sends")
    parser.add_argument("--api-rate", type=float, default=200.0, help="bad staff-API requests a second")
    parser.add_argument("--chat-rate", type=float, default=1.0,
                        help="the sandbox's messages/s per chat (below 1: stricter than the bot's pace)")
    parser.add_argument("--phases", default=",".join(PHASES), help="which phases, comma-separated (alone always)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--code", type=Path, help="run bot and sandbox from this checkout (PYTHONPATH)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = parser.parse_args()
    print(machine())
    warning = busy_warning()
    if warning:
        print(warning)
    if args.code is not None:
        print(f"bot and sandbox from {args.code}")
    tmp = Path(tempfile.mkdtemp(prefix="waystation-isolation-"))
    sandbox_port, api_port = free_port(), free_port()
    sandbox = spawn(["sandbox", "--port", str(sandbox_port), "--per-chat-rate", str(args.chat_rate)],
                    tmp / "sandbox.log", args.code)
    bot: subprocess.Popen[bytes] | None = None
    try:
        api = f"http://127.0.0.1:{sandbox_port}/sandbox/api"
        wait_until_up(f"{api}/events", sandbox, tmp / "sandbox.log", "the sandbox")
        staff = make_home(tmp / "home", f"http://127.0.0.1:{sandbox_port}/bot", api_port, args.code)
        bot = spawn(["bot", "run", "--home", str(tmp / "home")], tmp / "bot.log", args.code)
        wait_until_up(f"http://127.0.0.1:{api_port}/healthz", bot, tmp / "bot.log", "the bot")
        print(f"the bot's code: {code_location(args.code)}")
        time.sleep(2)  # first poll, commands announced
        chosen = tuple(name for name in PHASES if name in args.phases.split(","))
        if not chosen or chosen[0] != "alone":
            raise SystemExit("--phases must include alone, the baseline")
        pooled = {name: Phase(name, [], Counter(), Background(), Counter()) for name in chosen}
        for number in range(args.rounds):
            order = chosen if number % 2 == 0 else tuple(reversed(chosen))
            print(f"round {number + 1}/{args.rounds}: {' '.join(order)}", flush=True)
            for name in order:
                seed = args.seed * 1000 + number * 10 + PHASES.index(name)
                cpu, wall = cpu_seconds(bot.pid), time.monotonic()
                phase = asyncio.run(run_phase(name, api, args, seed, staff, api_port))
                phase.bot_cpu, phase.wall = cpu_seconds(bot.pid) - cpu, time.monotonic() - wall
                pooled[name].add(phase)
        report([pooled[name] for name in chosen], args)
    finally:
        if bot is not None:
            stop(bot)
        stop(sandbox)
        if args.keep:
            print(f"logs in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
