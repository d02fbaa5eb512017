"""Simulated people for bench/intake_load.py: many chats driven at once over the sandbox control API.

Each person is one coroutine with their own private chat. A step is one action
(typed text or a button press) and ends when the bot's answer (a sent or edited
message in that chat) shows in the sandbox's event log. Latency is taken from
the sandbox's own clock: the time of the person's `user_message` or
`callback_query` event to the time of the first `message_sent` / `message_edited`
event after it in the same chat. One shared watcher reads the event log for all
people, so nobody polls their chat and the polling interval does not enter the
figures (it only delays the person's next action, as reading would).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import httpx

SAY, PRESS = "say", "press"
ACTIONS = ("user_message", "callback_query")
ANSWERS = ("message_sent", "message_edited")
#: Languages of the default form's catalogues; people cycle through them.
LANGUAGES = ("en", "ru", "uk", "ar", "fa", "es", "fr")
ECHO_BUTTON = "e"


@dataclass(frozen=True)
class Step:
    """One action: text to type, or the callback data of a button on the bot's latest message."""

    kind: str
    value: str


def intake_steps(rng: random.Random) -> list[Step]:
    """The default form from /start to Send: 2 choices, 4 text-or-skip answers, 9 steps in all."""
    region = Step(PRESS, "s:region") if rng.random() < 0.5 else Step(SAY, f"Region {rng.randrange(100)}")
    details = (Step(PRESS, "s:details") if rng.random() < 0.5
               else Step(SAY, "Short note, no names. " * rng.randrange(1, 8)))
    return [
        Step(SAY, "/start"),
        Step(PRESS, "c"),
        Step(PRESS, "a:help:" + rng.choice(("leave", "safe_place", "legal", "medical", "talk"))),
        Step(PRESS, "a:urgency:" + rng.choice(("now", "days", "weeks"))),
        Step(SAY, f"Country {rng.randrange(100)}"),
        region,
        Step(SAY, "This chat, in the evenings"),
        details,
        Step(PRESS, "r"),
    ]


def echo_steps(steps: Sequence[Step]) -> list[Step]:
    """The same sequence of typing and pressing, for the echo bot (which has one button)."""
    return [s if s.kind == SAY else Step(PRESS, ECHO_BUTTON) for s in steps]


class EventWatcher:
    """Reads the sandbox event log for everyone and wakes the people whose chat changed."""

    def __init__(self, client: httpx.AsyncClient, api: str, interval: float = 0.02) -> None:
        self.client = client
        self.api = api
        self.interval = interval
        self.by_chat: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.kinds: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()  # 429 scopes and other API errors (never message content)
        self.missed = 0  # events the bounded log dropped before we read them
        self.last_seq = 0
        self._wake: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        reply = await self.client.get(f"{self.api}/events", params={"since": 0, "kind": "reset"})
        self.last_seq = int(reply.json()["last_seq"])  # start after whatever came before
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
            except httpx.HTTPError:
                pass  # a slow answer from a busy sandbox: read again; no event is lost (since=last_seq)
            await asyncio.sleep(self.interval)

    async def poll(self) -> None:
        """Read new events once."""
        reply = await self.client.get(f"{self.api}/events", params={"since": self.last_seq})
        reply.raise_for_status()
        for event in reply.json()["events"]:
            seq = int(event["seq"])
            self.missed += max(0, seq - self.last_seq - 1)
            self.last_seq = seq
            self.kinds[event["kind"]] += 1
            if event["kind"] == "rate_limited":
                self.errors[f"rate limited ({event.get('scope')} bucket) on {event.get('method')}"] += 1
            elif event["kind"] == "api_error" and event.get("error_code") != 429:
                self.errors[f"{event.get('method')} {event.get('error_code')} {event.get('description')}"] += 1
            chat_id = event.get("chat_id")
            if isinstance(chat_id, int):
                self.by_chat[chat_id].append(event)
                self._wake[chat_id].set()

    async def changed(self, chat_id: int, timeout: float) -> None:
        """Wait until new events of this chat have been read (or the timeout passes)."""
        wake = self._wake[chat_id]
        wake.clear()
        await asyncio.wait_for(wake.wait(), timeout)


@dataclass
class Outcome:
    """What happened to one person."""

    chat_id: int
    latencies: list[float] = field(default_factory=list)  # seconds, one per finished step
    first_action: float | None = None  # sandbox time
    last_answer: float | None = None
    failure: str | None = None
    last_message_id: int | None = None

    @property
    def done(self) -> bool:
        return self.failure is None and self.last_answer is not None


class Person:
    """One simulated person in their own private chat."""

    def __init__(self, client: httpx.AsyncClient, api: str, watcher: EventWatcher, chat_id: int,
                 steps: Sequence[Step], step_timeout: float, think: float, rng: random.Random) -> None:
        self.client, self.api, self.watcher = client, api, watcher
        self.steps = steps
        self.step_timeout = step_timeout
        self.think = think
        self.rng = rng
        self.outcome = Outcome(chat_id)
        self._cursor = 0  # index into the watcher's events of this chat already looked at

    async def run(self, go: asyncio.Event) -> Outcome:
        await go.wait()
        try:
            for number, step in enumerate(self.steps):
                if self.think > 0:  # reading and typing; before /start too, so arrivals spread out
                    await asyncio.sleep(self.rng.uniform(0, 2 * self.think))
                await self._do(number, step)
        except _Failed as err:
            self.outcome.failure = str(err)
        except (httpx.HTTPError, TimeoutError) as err:
            self.outcome.failure = type(err).__name__
        return self.outcome

    async def _do(self, number: int, step: Step) -> None:
        chat = self.outcome.chat_id
        if step.kind == SAY:
            reply = await self.client.post(f"{self.api}/chats/{chat}/messages", json={"text": step.value})
            if reply.status_code != 201:
                raise _Failed(f"step {number + 1}: sending text got {reply.status_code}")
            is_action = _match("user_message", "message_id", reply.json()["message_id"])
        else:
            reply = await self.client.post(f"{self.api}/chats/{chat}/callback",
                                           json={"message_id": self.outcome.last_message_id, "data": step.value})
            if reply.status_code != 201:
                raise _Failed(f"step {number + 1}: button {step.value!r} got {reply.status_code}")
            is_action = _match("callback_query", "callback_query_id", reply.json()["callback_query_id"])
        action = await self._next(is_action, number, "its own action in the event log")
        answer = await self._next(lambda e: e["kind"] in ANSWERS, number, "an answer")
        if self.outcome.first_action is None:
            self.outcome.first_action = float(action["time"])
        self.outcome.latencies.append(float(answer["time"]) - float(action["time"]))
        self.outcome.last_answer = float(answer["time"])
        self.outcome.last_message_id = int(answer["message_id"])

    async def _next(self, wanted: Any, number: int, what: str) -> dict[str, Any]:
        """The next event of this chat that `wanted` accepts, past the cursor."""
        deadline = time.monotonic() + self.step_timeout
        events = self.watcher.by_chat[self.outcome.chat_id]
        while True:
            while self._cursor < len(events):
                event = events[self._cursor]
                self._cursor += 1
                if wanted(event):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Failed(f"step {number + 1}: no {what} within {self.step_timeout:.0f} s")
            try:
                await self.watcher.changed(self.outcome.chat_id, left)
            except TimeoutError:
                pass


class _Failed(Exception):
    """A person could not go on (the reason names the step, never content)."""


def _match(kind: str, key: str, value: object) -> Any:
    return lambda e: e["kind"] == kind and e.get(key) == value


async def create_people(client: httpx.AsyncClient, api: str, count: int) -> list[int]:
    """Register `count` people (languages cycling through the catalogues); their chat ids."""
    chats = []
    for number in range(count):
        body = {"first_name": f"Person {number}", "language_code": LANGUAGES[number % len(LANGUAGES)]}
        reply = await client.post(f"{api}/users", json=body)
        reply.raise_for_status()
        chats.append(int(reply.json()["chat_id"]))
    return chats


@dataclass(frozen=True)
class Exactness:
    """Per-chat accounting from the event log: every action answered exactly once."""

    actions: int
    answers: int
    lost: int  # chats x actions without an answer
    duplicated: int  # answers beyond one per action
    presses: int
    presses_acknowledged: int
    rate_limited: int
    missed_events: int

    @property
    def exact(self) -> bool:
        return (self.lost == 0 and self.duplicated == 0 and self.presses == self.presses_acknowledged
                and self.missed_events == 0)


def exactness(watcher: EventWatcher, chats: Sequence[int]) -> Exactness:
    """Count actions and answers per chat (read after the run has settled)."""
    actions = answers = lost = duplicated = presses = acked = 0
    for chat in chats:
        kinds = Counter(e["kind"] for e in watcher.by_chat[chat])
        chat_actions = kinds["user_message"] + kinds["callback_query"]
        chat_answers = kinds["message_sent"] + kinds["message_edited"]
        actions += chat_actions
        answers += chat_answers
        lost += max(0, chat_actions - chat_answers)
        duplicated += max(0, chat_answers - chat_actions)
        presses += kinds["callback_query"]
        acked += kinds["callback_answered"]
    return Exactness(actions, answers, lost, duplicated, presses, acked, watcher.kinds["rate_limited"],
                     watcher.missed)


def quantile(values: Sequence[float], q: int) -> float:
    """The q-th percentile (inclusive method; exact for the ends)."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class Crowd:
    """The outcome of N people going through their steps at once."""

    outcomes: list[Outcome]
    exact: Exactness
    api_errors: Counter[str]
    steps_per_person: int

    @property
    def latencies(self) -> list[float]:
        return [lat for o in self.outcomes for lat in o.latencies]

    @property
    def completed(self) -> int:
        return sum(o.done for o in self.outcomes)

    @property
    def makespan(self) -> float:
        """Sandbox seconds from the first person's first action to the last finished answer."""
        starts = [o.first_action for o in self.outcomes if o.first_action is not None]
        ends = [o.last_answer for o in self.outcomes if o.done and o.last_answer is not None]
        return max(ends) - min(starts) if starts and ends else float("nan")

    @property
    def per_second(self) -> float:
        return self.completed / self.makespan if self.makespan > 0 else float("nan")

    def step_quantile(self, number: int, q: int) -> float:
        return quantile([o.latencies[number] for o in self.outcomes if len(o.latencies) > number], q)

    @property
    def failures(self) -> Counter[str]:
        return Counter(o.failure for o in self.outcomes if o.failure)


async def run_crowd(api: str, count: int, *, echo: bool, seed: int, think: float = 0.0,
                    step_timeout: float = 120.0, settle: float = 1.0) -> Crowd:
    """Create `count` people, release them at once, wait for all, then account for every update."""
    limits = httpx.Limits(max_connections=count + 8, max_keepalive_connections=count + 8)
    async with httpx.AsyncClient(timeout=step_timeout, limits=limits) as client:
        chats = await create_people(client, api, count)
        async with EventWatcher(client, api) as watcher:
            go = asyncio.Event()
            people = []
            for number, chat in enumerate(chats):
                rng = random.Random(seed * 1_000_003 + number)
                steps = intake_steps(rng)
                people.append(Person(client, api, watcher, chat, echo_steps(steps) if echo else steps,
                                     step_timeout, think, rng))
            tasks = [asyncio.create_task(p.run(go)) for p in people]
            await asyncio.sleep(0.2)  # every person is waiting at the gate
            go.set()
            outcomes = list(await asyncio.gather(*tasks))
            await _settle(watcher, settle)
            return Crowd(outcomes, exactness(watcher, chats), watcher.errors, len(people[0].steps))


async def _settle(watcher: EventWatcher, quiet: float) -> None:
    """Keep reading the log until nothing new came for `quiet` seconds (late duplicates show up)."""
    deadline = time.monotonic() + 30
    seen = watcher.last_seq
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if watcher.last_seq != seen:
            seen, quiet_since = watcher.last_seq, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet:
            return
