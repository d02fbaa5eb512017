"""N people completing the intake at once through the sandbox, against a bare python-telegram-bot echo bot.

Run from the repository root (project installed):

    python bench/intake_load.py [--people 200] [--limits both|telegram|none] [--think SECONDS]
                                [--quick] [--only BOT] [--profile DIR]

For each flood-limit setting, a fresh `waystation sandbox` and the real bot
(`waystation bot run` on a staffed home, flood gate opened wide, nothing deleted
during the run) serve N people who go through the whole default form: /start,
Continue, two choices, four typed-or-skipped answers, Send -- 9 steps, each
waiting for the bot's answer, as a person reads the question before answering.
Then, on a fresh sandbox each, the same people do the same sequence of typing
and pressing with an echo bot (python-telegram-bot Application, concurrent
updates, a MessageHandler that sends the text back with one button, a
CallbackQueryHandler that answers and edits): bare, and with the
rate limiter the real bot uses (bot/ratelimit.py, max_retries=3), so that the limiter's share
shows on its own. A bare bot cannot survive a 429, so under Telegram-like
limits only the echo bot with the limiter runs.

By default all N people send /start in the same instant and answer each
question the moment it shows: the worst case. --think T makes each person wait
uniform(0, 2T) seconds before every action, /start included, which is closer to
people reading and typing (T = 10 gives 200 people about 20 actions a second).

Figures: completed intakes per second (N / sandbox time from the first action
to the last answer; with --think that is mostly thinking time); p50/p95/p99,
overall and per step, of the time from a person's action to the bot's answer,
both read from the sandbox's event log on its own clock; the ratios to the echo
bots. Checks: every action answered exactly once and every button press
acknowledged (per chat, from the event log, with no event missed), N cases in
the database, N receipts with a 16-digit reference. Target: p99 under 300 ms
at 200 people on 2 cores, no lost or duplicated update.

--limits telegram keeps the sandbox's Telegram-like limits (1 message/s per chat
after a burst of 3, 30/s per bot); none turns them off. Sandbox, bot and the
simulated people share the machine's cores; the CPU each used, the cores other
work took and the CPU pressure (Linux PSI) are printed per run. --profile DIR
records the waystation bot and the sandbox with py-spy (on PATH or in $PY_SPY)
during the waystation runs and prints how busy each event loop was and on what.
"""


from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

import sealed_load
from load_people import ECHO_BUTTON, Crowd, intake_steps, quantile, run_crowd
from processes import (
    TOKEN,
    Process,
    Sandbox,
    build_staffed_home,
    configure_home,
    spawn,
    start_bot,
    start_sandbox,
)
from storage.config import TelegramConfig
from timing import busy_warning, machine

P99_TARGET = 0.300
#: Other work (cores busy in the second before a run, or on average during it) that flags the figures.
BUSY_CORES = 0.25
PEOPLE = 200
WAYSTATION, ECHO, ECHO_LIMITED = "waystation", "echo", "echo+limiter"
SANDBOX_FLAGS = {"telegram": (), "none": ("--per-chat-rate", "0", "--global-rate", "0")}
#: A bare echo bot cannot survive a 429 (it would drop the answer), so under Telegram-like
#: limits the baseline is the echo bot with the same rate limiter as the real bot.
CONTENDERS = {"none": (WAYSTATION, ECHO, ECHO_LIMITED), "telegram": (WAYSTATION, ECHO_LIMITED)}
BASELINE = {"none": ECHO, "telegram": ECHO_LIMITED}
STEP_NAMES = ("/start", "continue", "help", "urgency", "country", "region", "contact", "details", "send")
DEFAULT_BOT_RATE = TelegramConfig().max_messages_per_second
HOLD_SECONDS = 47 * 3600  # nothing is deleted during the run, so the receipts can be read afterwards


# -- the echo bot (runs as a subprocess of this script) ------------------------------------------

def run_echo_bot(base_url: str, rate: int | None) -> None:
    """A bare python-telegram-bot echo bot, polling like the real one; blocks until SIGTERM.

    With `rate`, it has the real bot's rate limiter (max_retries=3) at that many messages per second.
    """
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.ext import (
        Application,
        CallbackQueryHandler,
        ContextTypes,
        MessageHandler,
        filters,
    )

    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Next", callback_data=ECHO_BUTTON)]])

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.text:
            await context.bot.send_message(message.chat_id, message.text, reply_markup=keyboard, protect_content=True)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is not None:
            await query.answer()
            await query.edit_message_text(f"Pressed ({query.id})", reply_markup=keyboard)

    builder = Application.builder().token(TOKEN).base_url(base_url).concurrent_updates(True)
    if rate is not None:
        from bot.ratelimit import ChatPacedRateLimiter

        builder = builder.rate_limiter(ChatPacedRateLimiter(rate, max_retries=3))  # type: ignore[arg-type]
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.add_handler(CallbackQueryHandler(pressed))
    application.run_polling(allowed_updates=["message", "callback_query"])


# -- where the CPU goes ----------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 where /proc is unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_cpu() -> float:
    """CPU seconds all cores have spent busy since boot (from /proc/stat)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except OSError:
        return 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / TICK


def cpu_stall() -> float:
    """Seconds some runnable task has waited for a CPU since boot (Linux PSI); 0 where unavailable."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return 0.0
    return int(first.rpartition("total=")[2]) / 1e6


def busy_now(seconds: float = 1.0) -> float:
    """Cores kept busy by other work right now (sampled while nothing of ours runs)."""
    start = machine_cpu()
    time.sleep(seconds)
    return (machine_cpu() - start) / seconds


@dataclass(frozen=True)
class CpuShare:
    """Cores used on average during the crowd, by whom."""

    bot: float
    sandbox: float
    people: float
    other: float
    stalled: float  # share of the time some runnable task waited for a CPU

    def __str__(self) -> str:
        return (f"cores used: bot {self.bot:.2f}, sandbox {self.sandbox:.2f}, people {self.people:.2f}, "
                f"other {self.other:.2f}; CPU pressure {self.stalled:.0%}")


class CpuMeter:
    """Takes CPU readings of the bot, the sandbox, this process and the whole machine."""

    def __init__(self, bot: Process, sandbox: Process) -> None:
        self.pids = (bot.popen.pid, sandbox.popen.pid)
        self.start = self._read()

    def _read(self) -> tuple[float, ...]:
        ours = os.times()
        return (time.monotonic(), *(process_cpu(p) for p in self.pids), ours.user + ours.system, machine_cpu(),
                cpu_stall())

    def share(self) -> CpuShare:
        now = self._read()
        wall, bot, sandbox, people, total, stall = (b - a for a, b in zip(self.start, now, strict=True))
        wall = max(wall, 1e-9)
        other = max(0.0, total - bot - sandbox - people)
        return CpuShare(bot / wall, sandbox / wall, people / wall, other / wall, stall / wall)


# -- one contender -------------------------------------------------------------------------------

@dataclass
class Result:
    """One bot under one limit setting."""

    limits: str
    bot: str
    people: int
    crowd: Crowd | None
    load: float
    busy: float
    cpu: CpuShare | None = None
    cases: int | None = None
    receipts: int | None = None
    bot_errors: int = 0
    failure: str | None = None

    @property
    def p50(self) -> float:
        return quantile(self.crowd.latencies, 50) if self.crowd else math.nan

    @property
    def p95(self) -> float:
        return quantile(self.crowd.latencies, 95) if self.crowd else math.nan

    @property
    def p99(self) -> float:
        return quantile(self.crowd.latencies, 99) if self.crowd else math.nan

    @property
    def per_second(self) -> float:
        return self.crowd.per_second if self.crowd else math.nan

    @property
    def complete(self) -> bool:
        """Everyone finished, every update answered once, and (waystation) every case stored."""
        if self.crowd is None or self.failure or self.crowd.completed != self.people or not self.crowd.exact.exact:
            return False
        return self.bot != WAYSTATION or (self.cases == self.people and self.receipts == self.people)


def wait_for_polling(sandbox: Sandbox, process: Process, timeout: float = 60.0) -> None:
    """Until the bot has dropped any webhook, which python-telegram-bot does right before it polls."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            tail = " | ".join(process.log().strip().splitlines()[-3:])
            raise RuntimeError(f"the bot exited early: {tail}")
        if sandbox.events("webhook_deleted"):
            time.sleep(0.3)
            return
        time.sleep(0.1)
    raise RuntimeError("the bot did not start polling in time")


def set_bot_rate(home: Path, rate: int) -> None:
    """Give the home's bot another [telegram] max_messages_per_second."""
    config = home / "config.toml"
    text, count = re.subn(r"(?m)^max_messages_per_second = \d+$", f"max_messages_per_second = {rate}",
                          config.read_text())
    if count != 1:
        raise RuntimeError("config.toml has no max_messages_per_second line; update this benchmark")
    config.write_text(text)


def start_contender(bot: str, sandbox: Sandbox, tmp: Path, bot_rate: int | None) -> tuple[Process, Path | None]:
    """Start the bot under test against the sandbox; the home (waystation only) is returned too."""
    if bot == WAYSTATION:
        home = tmp / "home"
        build_staffed_home(home)
        port = configure_home(home, sandbox, delete_after=HOLD_SECONDS, after_submit=HOLD_SECONDS, flood=1_000_000)
        if bot_rate is not None:
            set_bot_rate(home, bot_rate)
        process = start_bot(home, port, tmp / "bot.log")
        wait_for_polling(sandbox, process)
        return process, home
    args = [sys.executable, str(Path(__file__).resolve()), "--echo-bot", sandbox.bot_base_url]
    if bot == ECHO_LIMITED:
        args += ["--echo-rate", str(bot_rate or DEFAULT_BOT_RATE)]
    process = spawn(args, tmp / "bot.log")
    wait_for_polling(sandbox, process)
    return process, None


def count_receipts(sandbox: Sandbox, crowd: Crowd) -> int:
    """People whose last bot message carries a 16-digit reference (read off the sandbox)."""
    found = 0
    for outcome in crowd.outcomes:
        messages = [m for m in sandbox.messages(outcome.chat_id) if m["side"] == "bot"]
        lines = (messages[-1].get("text") or "").splitlines() if messages else []
        if any(sum(ch.isascii() and ch.isdigit() for ch in line) == 16 for line in lines):
            found += 1
    return found


def count_cases(home: Path) -> int:
    """Cases in the home's database (opened as the CLI would, after the bot stopped)."""
    from storage.server import Server

    with Server.open(home, environ={}) as server:
        return len(server.cases.list())


def run_one(limits: str, bot: str, people: int, *, seed: int, think: float, deadline: float,
            bot_rate: int | None, profile: Path | None) -> Result:
    """Fresh sandbox, the bot, N people; everything stopped and removed afterwards."""
    load, busy = os.getloadavg()[0], busy_now()
    with tempfile.TemporaryDirectory(prefix="intake-load-") as name:
        tmp = Path(name)
        sandbox = start_sandbox(tmp, *SANDBOX_FLAGS[limits])
        process: Process | None = None
        spies: list[subprocess.Popen[bytes]] = []
        result = Result(limits, bot, people, None, load, busy)
        try:
            process, home = start_contender(bot, sandbox, tmp, bot_rate)
            if profile is not None and bot == WAYSTATION:
                spies = start_spies(profile, limits, {"bot": process, "sandbox": sandbox.process})
            meter = CpuMeter(process, sandbox.process)
            crowd = asyncio.run(asyncio.wait_for(
                run_crowd(sandbox.api, people, echo=bot != WAYSTATION, seed=seed, think=think), deadline))
            result.crowd, result.cpu = crowd, meter.share()
            stop_spies(spies)
            if home is not None:
                result.receipts = count_receipts(sandbox, crowd)
            process.stop()
            result.bot_errors = sum("ERROR" in line for line in process.log().splitlines())
            if home is not None:
                result.cases = count_cases(home)
        except (RuntimeError, AssertionError, TimeoutError, httpx.HTTPError) as err:
            result.failure = f"{type(err).__name__}: {err}"
        finally:
            stop_spies(spies)
            if process is not None:
                process.stop()
            sandbox.process.stop()
            sandbox.client.close()
        return result


# -- profiling -----------------------------------------------------------------------------------

def py_spy() -> str | None:
    return os.environ.get("PY_SPY") or shutil.which("py-spy")


def start_spies(directory: Path, limits: str, processes: dict[str, Process]) -> list[subprocess.Popen[bytes]]:
    """py-spy record of each process: raw collapsed stacks per thread, idle samples included."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("--profile needs py-spy on PATH or in $PY_SPY")
    directory.mkdir(parents=True, exist_ok=True)
    spies = []
    for role, process in processes.items():
        out = directory / f"{limits}-{role}.txt"
        spies.append(subprocess.Popen(
            [binary, "record", "--pid", str(process.popen.pid), "--format", "raw", "--rate", "100",
             "--threads", "--idle", "--nonblocking", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL))
    time.sleep(1.0)  # py-spy attaches
    return spies


def stop_spies(spies: list[subprocess.Popen[bytes]]) -> None:
    for spy in spies:
        if spy.poll() is None:
            spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
            try:
                spy.wait(20)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(5)
    spies.clear()


#: Leaf frames of a thread that waits rather than works (py-spy --idle records them too).
IDLE_LEAVES = ("select (selectors.py)", "EpollSelector.select (selectors.py)", "wait (threading.py)",
               "_worker (futures/thread.py)", "get (queue.py)")


#: Frames of Waystation's own code below the entry point and the update processor.
OURS = re.compile(r"[ (/](bot/(?!processor|sandbox)|storage/|crypto/)")


def profile_summary(path: Path, top: int = 8) -> str:
    """Where one process's time went: how busy its event loop was, on what, and its worker threads."""
    loop_busy: Counter[str] = Counter()
    workers: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    loop_total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or ";" not in stack:
            continue
        n = int(count)
        thread, *frames = stack.split(";")
        leaf = _short(frames[-1]) if frames else "?"
        main = thread.endswith(": MainThread")
        loop_total += n if main else 0
        if leaf in IDLE_LEAVES:
            continue
        (loop_busy if main else workers)[leaf] += n
        if main:
            for frame in {_short(f) for f in frames if OURS.search(f)}:
                ours[frame] += n
    if not loop_total:
        return f"  {path.name}: no samples"
    busy = sum(loop_busy.values())
    lines = [f"  {path.name}: event loop busy {busy / loop_total:.0%} of the time; its own time by function:"]
    lines += [f"    {n / loop_total:6.1%}  {name}" for name, n in loop_busy.most_common(top)]
    if ours:
        lines.append("   Waystation code on the event loop, inclusive:")
        lines += [f"    {n / loop_total:6.1%}  {name}" for name, n in ours.most_common(top)]
    if workers:
        lines.append(f"   worker threads: {sum(workers.values()) / loop_total:.2f} cores on average, in:")
        lines += [f"    {n / loop_total:6.2f}  {name}" for name, n in workers.most_common(3)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """'fn (path/to/module.py:123)' -> 'fn (module.py)'."""
    match = re.match(r"(.*) \((.*?):\d+\)$", frame)
    if not match:
        return frame
    function, path = match.groups()
    parts = Path(path).parts
    return f"{function} ({'/'.join(parts[-2:])})"


# -- report --------------------------------------------------------------------------------------

def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:,.0f}"


def describe(r: Result) -> str:
    """Two or three lines about one contender."""
    head = f"{r.limits:<8} {r.bot:<12}"
    if r.crowd is None:
        return f"  {head} FAILED: {r.failure}"
    c, e = r.crowd, r.crowd.exact
    longest = max(c.latencies, default=math.nan)
    lines = [
        (f"  {head} {c.completed}/{r.people} done in {c.makespan:.1f} s: {r.per_second:.2f} intakes/s; "
         f"p50 {ms(r.p50)} ms, p95 {ms(r.p95)} ms, p99 {ms(r.p99)} ms, max {ms(longest)} ms"),
        (f"  {'':<21} {e.actions} actions, {e.answers} answers, lost {e.lost}, duplicated {e.duplicated}, "
         f"presses acknowledged {e.presses_acknowledged}/{e.presses}, 429s {e.rate_limited}, "
         f"bot log errors {r.bot_errors}"),
        f"  {'':<21} {r.cpu}; before the run: load average {r.load:.1f}, other work {r.busy:.2f} cores",
    ]
    per_step = ", ".join(f"{name} {ms(c.step_quantile(i, 50))}/{ms(c.step_quantile(i, 99))}"
                         for i, name in enumerate(STEP_NAMES[: c.steps_per_person]))
    stored = f"cases {r.cases}/{r.people}, receipts {r.receipts}/{r.people}; " if r.bot == WAYSTATION else ""
    lines.append(f"  {'':<21} {stored}per step p50/p99 ms: {per_step}")
    for reason, n in (c.failures + Counter(c.api_errors)).most_common(4):
        lines.append(f"  {'':<21} {n} x {reason}")
    if r.failure:
        lines.append(f"  {'':<21} {r.failure}")
    return "\n".join(lines)


def summary(results: Sequence[Result], people: int, think: float, rate: int, warnings: Sequence[str]) -> str:
    """The compact table, with ratios to the echo baseline and the target."""
    pace = f"think {think:g} s" if think else "no think time"
    title = f"{people} people at once, {len(STEP_NAMES)} steps each, {pace}; bots at most {rate} messages/s"
    lines = [f"Summary ({machine()}; {title})"]
    if warnings:
        lines.append(f"  WARNING: other work took >= {BUSY_CORES} cores just before or during {', '.join(warnings)}: "
                     "it competed with the benchmark; those figures are unreliable")
    lines.append(f"  {'limits':<8} {'bot':<12} {'intakes/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
                 "  exactly once")
    for r in results:
        exact = "-" if r.crowd is None else ("yes" if r.complete else "NO")
        lines.append(f"  {r.limits:<8} {r.bot:<12} {r.per_second:>9.2f} {ms(r.p50):>8} {ms(r.p95):>8} "
                     f"{ms(r.p99):>8}  {exact}")
    by = {(r.limits, r.bot): r for r in results}
    for limits in dict.fromkeys(r.limits for r in results):
        ours = by.get((limits, WAYSTATION))
        for base_name in dict.fromkeys((BASELINE[limits], ECHO_LIMITED)):
            base = by.get((limits, base_name))
            if ours and base and ours.crowd and base.crowd:
                lines.append(f"  {limits:<8} waystation/{base_name}: p50 x{ours.p50 / base.p50:.2f}, "
                             f"p99 x{ours.p99 / base.p99:.2f}, intakes/s x{ours.per_second / base.per_second:.2f}")
    for r in results:
        if r.bot == WAYSTATION:
            met = r.complete and r.p99 < P99_TARGET
            lines.append(f"  target ({limits_label(r.limits)}): p99 < {P99_TARGET * 1000:.0f} ms at {PEOPLE} people, "
                         f"no lost or duplicated update: {'met' if met else 'NOT MET'} "
                         f"(p99 {ms(r.p99)} ms, {'exact' if r.complete else 'not exact'}"
                         f"{'' if r.people == PEOPLE else f', measured at {r.people} people'})")
    return "\n".join(lines)


def limits_label(limits: str) -> str:
    return {"telegram": "Telegram-like limits", "none": "no limits"}[limits]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=None, help=f"people at once (default {PEOPLE}; 20 with --quick)")
    parser.add_argument("--limits", choices=("both", "telegram", "none"), default="both",
                        help="sandbox flood limits: Telegram-like, none, or both in turn (default)")
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean seconds a person takes before each action, /start included "
                        "(uniform 0..2x; default 0: all start at the same instant and answer at once)")
    parser.add_argument("--quick", action="store_true", help="20 people, no limits: a smoke check, not figures")
    parser.add_argument("--seed", type=int, default=1, help="answers and skips each person picks")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds one contender may take (default 900)")
    parser.add_argument("--bot-rate", type=int, default=None, metavar="N",
                        help=f"messages/s the bots allow themselves (waystation's [telegram] "
                        f"max_messages_per_second, 1..1000; default: the home's default, {DEFAULT_BOT_RATE})")
    parser.add_argument("--only", choices=(WAYSTATION, ECHO, ECHO_LIMITED), default=None,
                        help="run just this bot (for profiling); no ratios then")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="py-spy the waystation bot and sandbox into DIR")
    parser.add_argument("--sealed", action="store_true",
                        help="the sealed form (issue 11) beside the chat form: Bot API calls per intake, "
                        "intakes/s, page-to-stored latency (bench/sealed_load.py)")
    parser.add_argument("--echo-bot", help=argparse.SUPPRESS)
    parser.add_argument("--echo-rate", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.echo_bot:
        run_echo_bot(args.echo_bot, args.echo_rate)
        return 0
    people = args.people or (20 if args.quick else PEOPLE)
    if args.sealed:
        return sealed_load.main(["--people", str(people), "--limits", args.limits, "--seed", str(args.seed),
                                 "--think", str(args.think)])
    settings = ["none"] if args.quick and args.limits == "both" else (
        ["telegram", "none"] if args.limits == "both" else [args.limits])
    if len(intake_steps(random.Random(0))) != len(STEP_NAMES):
        raise RuntimeError("the step list changed; update STEP_NAMES")

    warnings: list[str] = []
    results = []
    rate = args.bot_rate or DEFAULT_BOT_RATE
    print(f"Intake under load: {people} people at once; bots limit themselves to {rate} messages/s; {machine()}")
    first = busy_warning()  # the load average only means something before our own runs add to it
    if first:
        print(first)
    for limits in settings:
        for bot in [b for b in CONTENDERS[limits] if args.only in (None, b)]:
            result = run_one(limits, bot, people, seed=args.seed, think=args.think, deadline=args.deadline,
                             bot_rate=args.bot_rate, profile=args.profile)
            results.append(result)
            if max(result.busy, result.cpu.other if result.cpu else 0.0) >= BUSY_CORES:
                warnings.append(f"{result.limits} {result.bot}")
            print(describe(result), flush=True)
            if args.profile is not None and bot == WAYSTATION:
                for role in ("bot", "sandbox"):
                    path = args.profile / f"{limits}-{role}.txt"
                    if path.exists():
                        print(profile_summary(path))
    print()
    print(summary(results, people, args.think, rate, warnings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
