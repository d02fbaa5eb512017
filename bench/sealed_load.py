"""The sealed form beside the chat form: Bot API calls per completed intake, intakes/s, page-to-stored latency.

Run from the repository root (project installed); `python bench/intake_load.py --sealed` runs it too:

    python bench/sealed_load.py [--people 200] [--limits telegram|none|both] [--seed 1] [--think SECONDS]

For each limit setting, a fresh `waystation sandbox` and the real bot on a staffed home:

- chat form: N people through the chat's nine steps (load_people.run_crowd), as bench/intake_load.py does;
- sealed form: N people each send /start, tap the web_app button (the sandbox signs the launch
  data as Telegram does), and do what the page does on Send: /form/api/begin, seal the request
  with crypto.envelope.seal_body (the page's seal.js builds the same bytes), /form/api/submit.

Both wait, after the last intake, until the bot has deleted every chat (delete_after_submit 5 s),
so the deletions count too. Bot API calls per completed intake: every call the sandbox records
for a person's chat (sendMessage, editMessageText, deleteMessage(s), answerCallbackQuery,
setChatMenuButton), from its event log. Intakes per second: N over the time from the first /start
to the last receipt. Page-to-stored: sealing + the submit call (the page calls begin when the person
starts the form, so the server's Argon2id is done while they answer; the page derives the public
reply key at Send, an Argon2id run on the phone, which this bench does on its own machine, beside the
bot, and leaves out of the latency). Each bot's `[intake] ready_references` is set to N, as an
organisation expecting bursts of N people sets it, and the crowd starts once /metrics shows the
pool full (the bot was up before the burst; the time to fill it is printed, outside the clock).
Targets (issue 11): at least 4x the chat form's intakes/s at Telegram's limits,
page-to-stored p99 under 300 ms at 200 people.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from nacl.public import PublicKey
from nacl.signing import VerifyKey

from crypto.envelope import Kind, seal_body
from crypto.replykey import reply_public_key
from load_people import create_people, quantile, run_crowd
from processes import Process, Sandbox, build_staffed_home, configure_home, start_bot, start_sandbox

#: Sandbox events that are one Bot API call made for a person's chat.
CALLS = ("message_sent", "message_edited", "messages_deleted", "callback_answered", "menu_button_set")
#: The calls Telegram's limit of about 30 messages a second (per bot) counts: sends and edits.
LIMITED = ("message_sent", "message_edited")
SANDBOX_FLAGS = {"telegram": (), "none": ("--per-chat-rate", "0", "--global-rate", "0")}
AFTER_SUBMIT = 5
ANSWERS = {"help": "Leave the country", "urgency": "Within days", "country": "Example Country", "region": "",
           "contact": "this chat, evenings", "details": ""}
P99_TARGET = 0.300
#: Longest wait for the bot's ticket pool to fill before the crowd starts.
POOL_WAIT = 180.0


@dataclass
class Run:
    """One contender under one limit setting."""

    form: str
    limits: str
    people: int
    completed: int = 0
    seconds: float = float("nan")
    calls: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # sealed: page-to-stored seconds
    failure: str | None = None
    pool: tuple[int, float] = (0, 0.0)  # tickets ready when the crowd started, seconds waited for them

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else float("nan")

    @property
    def calls_per_intake(self) -> float:
        return sum(self.calls.values()) / self.completed if self.completed else float("nan")

    @property
    def limited_per_intake(self) -> float:
        """Sends and edits per intake: what Telegram's ~30 messages/s counts."""
        return sum(self.calls[k] for k in LIMITED) / self.completed if self.completed else float("nan")


def _sealed_config(home: Path, port: int, mode: str, people: int) -> None:
    path = home / "config.toml"
    text = path.read_text(encoding="utf-8").replace('mode = "sealed_form"', f'mode = "{mode}"', 1)
    text = text.replace('public_url = ""', f'public_url = "http://127.0.0.1:{port}"', 1)
    # As an organisation expecting bursts of N people sets it (docs/configuration.md), for both forms.
    text = text.replace("ready_references = 64", f"ready_references = {people}", 1)
    path.write_text(text, encoding="utf-8")


def _wait_pool(port: int, wanted: int, timeout: float = POOL_WAIT) -> tuple[int, float]:
    """Wait until the bot's ticket pool is full, as on a server that was up before the burst: (ready, seconds)."""
    started = time.monotonic()
    ready = 0
    while time.monotonic() - started < timeout:
        page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        for line in page.splitlines():
            if line.startswith("waystation_ready_references "):
                ready = int(float(line.split()[1]))
        if ready >= wanted:
            break
        time.sleep(0.5)
    return ready, time.monotonic() - started


def _count_calls(sandbox: Sandbox, chats: set[int]) -> Counter[str]:
    counted: Counter[str] = Counter()
    for event in sandbox.events():
        if event["kind"] in CALLS and event.get("chat_id") in chats:
            counted[event["kind"]] += 1
    return counted


def _wait_deleted(sandbox: Sandbox, chats: Sequence[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(chats)
    while pending and time.monotonic() < deadline:
        pending = {c for c in pending if any(m["side"] == "bot" for m in sandbox.messages(c))}
        time.sleep(0.5)


async def _one_sealed(client: httpx.AsyncClient, api: str, chat: int, bot_port: int,
                      go: asyncio.Event, think: float, rng: random.Random) -> tuple[float, float, float] | None:
    """One person: /start, tap the button, answer, Send. Returns (start, stored, page-to-stored) or None."""
    await go.wait()
    await asyncio.sleep(rng.uniform(0, 2 * think))
    started = time.monotonic()
    await client.post(f"{api}/chats/{chat}/messages", json={"text": "/start"})
    button = None
    for _ in range(600):
        messages = (await client.get(f"{api}/chats/{chat}/messages")).json()["messages"]
        for message in messages:
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                for b in row:
                    if "web_app" in b:
                        button = (message["message_id"], b["web_app"]["url"])
        if button:
            break
        await asyncio.sleep(0.05)
    if button is None:
        return None
    launch = (await client.post(f"{api}/chats/{chat}/webapp", json={"source": "inline", "message_id": button[0],
                                                                    "url": button[1]})).json()
    base = f"http://127.0.0.1:{bot_port}{urlsplit(button[1]).path}api"
    # As the page: begin when the person starts the form; Send (seal, submit) once they have answered.
    begun = (await client.post(f"{base}/begin", json={"init_data": launch["init_data"], "language": "en"})).json()
    queue = begun["default_queue"]
    await asyncio.sleep(rng.uniform(0, 2 * think) * 6)  # the six questions, answered in the page
    reply_key = begun["reply_key"]
    if reply_key is None:
        # The phone derives the public reply key (Argon2id): here on the bench's machine, beside the bot.
        public = await asyncio.to_thread(reply_public_key, begun["reference"], begun["case_id"])
        reply_key = base64.b64encode(bytes(public)).decode()
    payload = json.dumps({"v": 1, "answers": ANSWERS, "language": begun["language"], "channel": begun["channel"],
                          "submitted_hour": begun["submitted_hour"], "reply_handle": begun["reply_handle"],
                          "reply_tag": begun["reply_tag"], "reply_key": reply_key}).encode()
    sent = time.monotonic()  # page-to-stored: sealing and the submit call (the phone's Argon2id is before it)
    body = seal_body(payload, kind=Kind.REQUEST, case_id=begun["case_id"], queue=queue,
                     recipients=[PublicKey(base64.b64decode(r["key"])) for r in begun["queues"][queue]],
                     signer_key=VerifyKey(base64.b64decode(begun["signer"])))
    reply = await client.post(f"{base}/submit", json={
        "init_data": launch["init_data"], "case_id": begun["case_id"], "queue": queue,
        "envelope": base64.b64encode(body).decode(), "alert": {"help": "leave", "urgency": "days"}})
    stored = time.monotonic()
    if reply.status_code != 200 or "reference" not in reply.json():
        return None
    return started, stored, stored - sent


async def _sealed_crowd(api: str, people: int, bot_port: int, think: float,
                        seed: int) -> tuple[list[int], list[tuple[float, float, float]]]:
    limits = httpx.Limits(max_connections=2 * people + 8, max_keepalive_connections=2 * people + 8)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        chats = await create_people(client, api, people)
        go = asyncio.Event()
        tasks = [asyncio.create_task(_one_sealed(client, api, chat, bot_port, go, think,
                                                 random.Random(seed * 1_000_003 + n)))
                 for n, chat in enumerate(chats)]
        await asyncio.sleep(0.2)
        go.set()
        done = [r for r in await asyncio.gather(*tasks) if r is not None]
        return chats, done


def run(form: str, limits: str, people: int, seed: int, think: float = 0.0) -> Run:
    """A fresh sandbox and bot; N people through one form; the chats deleted; the counts."""
    result = Run(form, limits, people)
    with tempfile.TemporaryDirectory(prefix="sealed-load-") as name:
        tmp = Path(name)
        sandbox = start_sandbox(tmp, *SANDBOX_FLAGS[limits])
        bot: Process | None = None
        try:
            home = tmp / "home"
            build_staffed_home(home)
            port = configure_home(home, sandbox, delete_after=600, after_submit=AFTER_SUBMIT, flood=1000)
            _sealed_config(home, port, "sealed_form" if form == "sealed" else "chat", people)
            bot = start_bot(home, port, tmp / "bot.log")
            result.pool = _wait_pool(port, people)
            if form == "sealed":
                chats, done = asyncio.run(_sealed_crowd(sandbox.api, people, port, think, seed))
                result.completed = len(done)
                result.latencies = [d[2] for d in done]
                if done:
                    result.seconds = max(d[1] for d in done) - min(d[0] for d in done)
            else:
                crowd = asyncio.run(run_crowd(sandbox.api, people, echo=False, seed=seed, think=think))
                chats = [o.chat_id for o in crowd.outcomes]
                result.completed, result.seconds = crowd.completed, crowd.makespan
            _wait_deleted(sandbox, chats, AFTER_SUBMIT + 120)
            result.calls = _count_calls(sandbox, set(chats))
        except (RuntimeError, AssertionError, TimeoutError, httpx.HTTPError, KeyError) as err:
            result.failure = f"{type(err).__name__}: {err}"
        finally:
            if bot is not None:
                bot.stop()
            sandbox.process.stop()
            sandbox.client.close()
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def describe(results: Sequence[Run]) -> str:
    """The side-by-side table, and the targets."""
    lines = ["form    limits    done      calls/intake  intakes/s  calls by kind"]
    for r in results:
        kinds = ", ".join(f"{k} {v / max(r.completed, 1):.1f}" for k, v in sorted(r.calls.items()))
        lines.append(f"{r.form:7} {r.limits:9} {r.completed:4}/{r.people:<4} {r.calls_per_intake:12.1f}  "
                     f"{r.per_second:9.2f}  {kinds}" + (f"  FAILED {r.failure}" if r.failure else ""))
        lines.append(f"        tickets ready at the start {r.pool[0]} "
                     f"(pool filled in {r.pool[1]:.0f} s, before the clock)")
        if r.latencies:
            lat = sorted(r.latencies)
            lines.append(f"        page-to-stored p50 {_ms(quantile(lat, 50))}, p95 {_ms(quantile(lat, 95))}, "
                         f"p99 {_ms(quantile(lat, 99))} (target p99 < {_ms(P99_TARGET)})")
    for limits in ("telegram", "none"):
        pair = {r.form: r for r in results if r.limits == limits}
        if "chat" in pair and "sealed" in pair:
            chat, sealed = pair["chat"], pair["sealed"]
            lines.append(f"{limits}: sealed/chat intakes/s {sealed.per_second / chat.per_second:.1f}x; "
                         f"Bot API calls per intake {sealed.calls_per_intake:.1f} vs {chat.calls_per_intake:.1f}; "
                         f"sends+edits {sealed.limited_per_intake:.1f} vs {chat.limited_per_intake:.1f}, so at "
                         f"30 messages/s Telegram lets a bot serve at most {30 / sealed.limited_per_intake:.1f} vs "
                         f"{30 / chat.limited_per_intake:.1f} intakes/s (target 4x)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--limits", choices=("telegram", "none", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean seconds before each action (uniform 0..2x; the sealed form's six answers "
                        "count as six actions before Send; default 0: everyone at the same instant)")
    args = parser.parse_args(argv)
    settings = ("telegram", "none") if args.limits == "both" else (args.limits,)
    results = [run(form, limits, args.people, args.seed, args.think) for limits in settings
               for form in ("chat", "sealed")]
    print(describe(results))
    return 1 if any(r.failure for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
