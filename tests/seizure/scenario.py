"""The seizure scenario: people and caseworkers use a real server, and its home is copied while it runs.

Real parts only: `waystation bot run` as a subprocess talking HTTP to the
sandbox messenger, persons driven through the sandbox, caseworkers through
the real staff client over the signed staff API (and once through the CLI).
Every person types canaries (random tokens) into the text answers and has a
recognisable name and username; every note, reply and follow-up carries a
canary. The scenario knows which chat sent which case (ground truth for the
joins); the attacker never sees it.

Timeline (delete times are seconds, the time granularity an hour, so the whole run takes
under two minutes):

1. a volunteer enrols; all persons start at once (made in a random order, so that their chat
   ids, which the sandbox numbers, do not follow the order they submit in); two thirds of
   them submit while the others wait mid-form; one cancels at review, one sends /forget
   mid-form, one only opens the bot -> copy "mid-intake";
2. the others submit -> copy "after-intake" (every request within one time-granularity
   window when the clock allows, so chance is 1/N);
3. the volunteer takes two alerts; caseworkers claim and write notes (one through the CLI);
   they reply to eight cases; the messenger holds the answer to one reply's notice for a few
   seconds -> copy "notice-pending" (its delivery envelope is still there: the documented
   exposure); three persons read their reply with their reference, two after the notice, one
   from a new chat of their own; persons follow up, one from another chat -> copy "casework";
4. every delete window passes (every person chat is empty); two unread replies expire
   (reply_driver.py ages their rows, the bot's own job erases them) -> copy "after-windows";
   the bot is stopped with SIGTERM -> copy "stopped".
"""

from __future__ import annotations

import json
import os
import random
import shutil
import string
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.utils

from bot import texts
from bot.alerting.views import ON_IT
from bot.form import load_form
from crypto.keys import KDF_MINIMUM, dump_identity
from staff.pins import PinStore
from staff.remote import RemoteStaff
from storage.volunteers import (
    Settings,
    VolunteerStore,
    hash_code,
    new_invite_code,
    normalise_code,
)
from tests.alerts.harness import set_config
from tests.bot.flows import T, tr
from tests.bot.harness import (
    Bot,
    Person,
    Sandbox,
    configure_home,
    start_bot,
    wait_until,
    waystation,
)
from tests.conftest import StaffedHome, build_staffed_home
from tests.seizure.needles import Needle
from tests.seizure.reply_driver import ReplyDriver, current_driver
from tests.seizure.verdict import Pending

SUBMITTERS = 24
# Long enough that a person waiting mid-form for the first copy keeps their form, and that every
# submitter's chat is still pending at the copy taken right after intake (about 25 s after the first Send).
DELETE_AFTER = 45
AFTER_SUBMIT = 45
SPACING = 0.8  # seconds between two Sends: times to the second then tell requests apart, as in real life
GRANULARITY = 3600
POLL = 0.15
#: The messenger holds the answer to one reply notice this long (the bot's read timeout is 5 s).
NOTICE_HOLD = 3.0
#: A chat whose messages were deleted this shortly before a copy may still be in the copied chat
#: state: the bot erases it right after Telegram confirms the deletion.
DELETION_GRACE = 3.0
#: How long one step (a bot answer, a button, a chat emptied) may take. Only a bound on waiting:
#: each wait ends as soon as the step is seen. 40 s timed out on a slow, loaded CI host.
STEP_TIMEOUT = 120.0
#: How long one person's whole walk through the form may take (several steps).
WALK_TIMEOUT = 600.0
PASSPHRASE = "seizure passphrase"
FORM = load_form()
CYRILLIC = "абвгдежзиклмнопрстуфхцчшщэюя"


def token(size: int = 10, alphabet: str = string.ascii_lowercase + string.digits) -> str:
    """A random token from the CSPRNG (canaries must not collide with anything by chance)."""
    raw = nacl.utils.random(size)
    return "".join(alphabet[b % len(alphabet)] for b in raw)


@dataclass
class Actor:
    """One person of the scenario and everything they typed."""

    label: str
    role: str  # submit | cancel | forget | browse | elsewhere
    language: str
    first_name: str
    last_name: str
    username: str
    answers: dict[str, str | None] = field(default_factory=dict)
    canaries: dict[str, str] = field(default_factory=dict)
    person: Person | None = None
    reference: str | None = None
    case_id: str | None = None
    paused: threading.Event = field(default_factory=threading.Event)

    @property
    def chat_id(self) -> int:
        if self.person is None:
            raise AssertionError(f"{self.label} has no chat yet")
        return self.person.chat_id


def _canary(actor: Actor, what: str, cyrillic: bool = False) -> str:
    value = ("жук" + token(8, CYRILLIC)) if cyrillic else ("cy" + token(12))
    actor.canaries[f"{actor.label}.{what}"] = value
    return value


def make_actor(label: str, role: str, number: int) -> Actor:
    """A person with a distinct name and username, and answers full of canaries."""
    language = "ru" if number % 3 == 2 else "en"
    actor = Actor(label, role, language, f"Ruslan{token(6, string.ascii_lowercase)}", f"Kadyr{token(6)}",
                  f"u_{token(12)}")
    actor.answers = {
        "help": ["leave", "safe_place", "legal", "medical", "talk"][number % 5],
        "urgency": ["now", "days", "weeks"][number % 3],
        "country": f"{_canary(actor, 'country', language == 'ru')} land",
        "region": None if number % 4 == 1 else f"near {_canary(actor, 'region')}",
        "contact": f"this chat, evenings {_canary(actor, 'contact')}",
        "details": None if number % 4 == 3 else f"{_canary(actor, 'details', number % 2 == 0)} — please help",
    }
    return actor


def _wait_text(person: Person, needle: str, timeout: float = STEP_TIMEOUT) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        return next((m for m in reversed(person.bot_messages()) if needle in (m.get("text") or "")), None)

    found: dict[str, Any] = wait_until(find, timeout, POLL, what=f"bot text {needle[:30]!r}")
    return found


def _press(person: Person, data: str) -> None:
    def find() -> dict[str, Any] | None:
        return next((m for m in reversed(person.bot_messages()) if any(d == data for _, d in person.buttons(m))),
                    None)

    message = wait_until(find, STEP_TIMEOUT, POLL, what=f"a button {data!r}")
    person.sandbox.client.post(f"{person.sandbox.api}/chats/{person.chat_id}/callback",
                               json={"message_id": message["message_id"], "data": data}).raise_for_status()


def _wait_empty(person: Person, timeout: float, what: str) -> None:
    wait_until(lambda: not person.messages(), timeout, 0.5, what=what)


def _reference(message: dict[str, Any]) -> str:
    for line in (message.get("text") or "").splitlines():
        if sum(ch.isdigit() for ch in line) == 16:
            return "".join(ch for ch in line if ch.isdigit())
    raise AssertionError("no 16-digit reference in the receipt")


@dataclass
class Scenario:
    """The running world and what the test knows about it."""

    tmp: Path
    sandbox: Sandbox
    driver: ReplyDriver = field(default_factory=current_driver)
    staffed: StaffedHome | None = None
    bot: Bot | None = None
    actors: list[Actor] = field(default_factory=list)
    volunteer: Person | None = None
    staff_canaries: dict[str, str] = field(default_factory=dict)
    replies: dict[str, list[Actor]] = field(default_factory=dict)  # read | unread | expired
    snapshots: dict[str, Path] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)
    created_at: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(9))
    turn: threading.Lock = field(default_factory=threading.Lock)
    last_submit: float = 0.0

    # -- setup -----------------------------------------------------------------------------------

    @property
    def home(self) -> Path:
        if self.staffed is None:
            raise AssertionError("the scenario has no home yet")
        return self.staffed.root

    @property
    def bot_log(self) -> Path:
        return self.tmp / "bot.log"

    def start(self) -> None:
        """A staffed home with short delete times, a volunteer invitation, the bot running."""
        self.staffed = build_staffed_home(self.tmp / "home")
        port = configure_home(self.home, self.sandbox, delete_after=DELETE_AFTER, after_submit=AFTER_SUBMIT, flood=500)
        set_config(self.home, privacy={"time_granularity_seconds": GRANULARITY},
                   telegram={"max_messages_per_second": 1000},
                   alerts={"check_seconds": 1, "send_interval_ms": 0},
                   staff_api={"requests_per_minute": 6000},  # caseworkers here work faster than people
                   **self.driver.settings())
        code = new_invite_code()
        now = int(time.time())
        with self.staffed.open() as server:
            VolunteerStore(server.db).create_invite(hash_code(normalise_code(code) or "", server.home.pepper()),
                                                    Settings(("main",), 1, "", False, None), "Ada Admin", now,
                                                    now + 3600)
        self.bot = start_bot(self.home, port, self.bot_log)
        self.volunteer = self._person("Volunteer Vera", None, "en")
        self.volunteer.say(f"/volunteer {code}")
        _wait_text(self.volunteer, tr("en", texts.VOLUNTEER_WELCOME).split("{")[0])

    def _person(self, first: str, username: str | None, language: str, last: str | None = None) -> Person:
        client = Sandbox(self.sandbox.port, self.sandbox.process)  # one HTTP client per thread
        body: dict[str, str] = {"first_name": first, "language_code": language}
        if username:
            body["username"] = username
        if last:
            body["last_name"] = last
        reply = client.client.post(f"{client.api}/users", json=body)
        reply.raise_for_status()
        return Person(client, int(reply.json()["chat_id"]))

    # -- intake ----------------------------------------------------------------------------------

    def _walk(self, actor: Actor, until: str | None = None, pause_at: int | None = None,
              release: threading.Event | None = None) -> None:
        person = actor.person
        if person is None:
            raise AssertionError("no person")
        language = actor.language
        person.say("/start")
        _wait_text(person, tr(language, texts.CONSENT))
        _press(person, "c")
        for index, question in enumerate(FORM.questions):
            if pause_at is not None and index == pause_at and release is not None:
                actor.paused.set()
                if not release.wait(STEP_TIMEOUT):
                    raise AssertionError(f"{actor.label} was never released")
            if until == "forget" and index == 3:
                person.say("/forget")
                wait_until(lambda: not person.messages(), STEP_TIMEOUT, POLL, what="the chat emptied by /forget")
                return
            _wait_text(person, T.gettext(language, question.prompt))
            answer = actor.answers.get(question.id)
            if question.kind == "choice":
                _press(person, f"a:{question.id}:{answer}")
            elif answer is None:
                _press(person, f"s:{question.id}")
            else:
                person.say(answer)
        _wait_text(person, tr(language, texts.REVIEW))
        if until == "cancel":
            # /cancel, not the review's Cancel button: that button answers its callback twice today
            # (review_button and cancel both call _ack), the Bot API refuses the second answer and
            # the person never sees "Cancelled" (reported to the lead; not this test's subject).
            person.say("/cancel")
            _wait_text(person, tr(language, texts.CANCELLED))
            return
        with self.turn:  # one Send at a time, SPACING apart: requests do not all land in the same second
            time.sleep(max(0.0, self.last_submit + SPACING - time.monotonic()))
            _press(person, "r")
            actor.reference = _reference(_wait_text(person, tr(language, texts.SUBMITTED)))
            self.last_submit = time.monotonic()

    def intake(self) -> None:
        """Everyone starts at once; two thirds submit, the rest wait mid-form for the first snapshot."""
        number = 0
        for i in range(SUBMITTERS):
            self.actors.append(make_actor(f"P{i + 1:02d}", "submit", number))
            number += 1
        for role in ("cancel", "forget", "browse"):
            self.actors.append(make_actor(role.upper(), role, number))
            number += 1
        # Chat ids are user ids: in Telegram they follow account age, not the moment someone writes
        # to the bot. The sandbox numbers users as they are made, so they are made in a random order:
        # otherwise chat-id order would follow submission order here and nowhere else.
        for actor in sorted(self.actors, key=lambda _: self.rng.random()):
            actor.person = self._person(actor.first_name, actor.username, actor.language, actor.last_name)
        submitters = [a for a in self.actors if a.role == "submit"]
        fast = [a for i, a in enumerate(submitters) if i % 3 != 1]  # two thirds submit before the first copy
        slow = [a for i, a in enumerate(submitters) if i % 3 == 1]
        release = threading.Event()
        with ThreadPoolExecutor(max_workers=len(self.actors)) as pool:
            futures = [pool.submit(self._walk, a) for a in fast]
            futures += [pool.submit(self._walk, a, None, 3, release) for a in slow]
            futures.append(pool.submit(self._walk, self._role("cancel"), "cancel"))
            futures.append(pool.submit(self._walk, self._role("forget"), "forget"))
            futures.append(pool.submit(self._browse, self._role("browse")))
            try:
                for future in futures[: len(fast)]:
                    future.result(timeout=WALK_TIMEOUT)
                wait_until(lambda: all(a.paused.is_set() for a in slow), STEP_TIMEOUT, POLL,
                           what="the second half mid-form")
                futures[-2].result(timeout=WALK_TIMEOUT)  # /forget done
                self.snapshot("mid-intake")
            finally:
                release.set()
            for future in futures:
                future.result(timeout=WALK_TIMEOUT)
        self.snapshot("after-intake")

    def _role(self, role: str) -> Actor:
        return next(a for a in self.actors if a.role == role)

    def _browse(self, actor: Actor) -> None:
        if actor.person is None:
            raise AssertionError("no person")
        actor.person.say("/start")
        _wait_text(actor.person, tr(actor.language, texts.CONSENT))

    # -- casework --------------------------------------------------------------------------------

    def _staff(self, name: str) -> RemoteStaff:
        if self.staffed is None or self.bot is None:
            raise AssertionError("not started")
        return RemoteStaff(f"http://127.0.0.1:{self.bot.port}", self.staffed.staff[name],
                           PinStore(self.tmp / f"pins-{name}.json"))

    def _staff_canary(self, label: str, cyrillic: bool = False) -> str:
        value = ("жук" + token(8, CYRILLIC)) if cyrillic else ("cy" + token(12))
        self.staff_canaries[label] = value
        return value

    def learn_truth(self) -> None:
        """Which case each submitter's request became (the caseworker reads the canaries)."""
        submitters = {a.canaries[f"{a.label}.contact"]: a for a in self.actors if a.role == "submit"}
        with self._staff("cas-main") as client:
            for view in client.list():
                if view.request is None:
                    raise AssertionError(f"case {view.case.id[:6]} does not open for its caseworker: {view.problem}")
                contact = str(view.request.get("answers", {}).get("contact", ""))
                owner = next((a for c, a in submitters.items() if c in contact), None)
                if owner is None:
                    raise AssertionError("a case holds no submitter's canary (a cancelled request was stored?)")
                owner.case_id = view.case.id
                self.created_at[view.case.id] = view.case.created_at
        missing = [a.label for a in submitters.values() if a.case_id is None]
        if missing:
            raise AssertionError(f"no case for {missing}")

    def casework(self) -> None:
        """Claims, notes, replies (read, unread, expired), closes, follow-ups, volunteer acknowledgements."""
        self.learn_truth()
        submitters = [a for a in self.actors if a.role == "submit"]
        order = submitters[:]
        self.rng.shuffle(order)
        acked = order[16:18]
        for actor in acked:  # the volunteer takes two alerts before anyone claims them
            self._ack(actor.case_id or "")
        with self._staff("cas-main") as main, self._staff("cas-main-2") as second:
            for actor in order[:16]:
                main.claim(actor.case_id or "")
            for i, actor in enumerate(order[:10]):
                writer = second if i % 3 == 2 else main
                writer.note(actor.case_id or "", f"note {self._staff_canary(f'note.{actor.label}', i % 2 == 1)}")
            replied = order[:8]
            held = replied[3]  # its notice is held by the messenger while the home is copied
            for i, actor in enumerate(replied):
                if actor is not held:
                    main.reply(actor.case_id or "", self._reply_text(actor, i))
        self.replies = {"read": replied[:3], "unread": replied[3:6], "expired": replied[6:8]}
        for actor in replied:
            if actor.person is not None and actor is not held:
                self.driver.await_notice(actor.person, actor.language)
        time.sleep(1)  # the bot erases each delivery envelope as Telegram answers for its notice
        self._reply_in_flight(held, self._reply_text(held, replied.index(held)))
        with self._staff("cas-main") as main:
            for actor in order[5:7]:
                main.close(actor.case_id or "")
        self._cli_note(order[10])
        for i, actor in enumerate(self.replies["read"]):
            # The last reader gives their reference in a chat of their own that never sent a request.
            person = actor.person if i < len(self.replies["read"]) - 1 else self._reader(actor)
            if person is not None:
                self.driver.read(person, actor.language, actor.reference or "",
                                 self.staff_canaries[f"reply.{actor.label}"], from_notice=person is actor.person)
        self.follow_ups([replied[0], order[9], order[12]], elsewhere=order[14])
        self.snapshot("casework")

    def _reply_text(self, actor: Actor, index: int) -> str:
        return f"reply {self._staff_canary(f'reply.{actor.label}', index % 2 == 0)}"

    def _reply_in_flight(self, actor: Actor, text: str) -> None:
        """A reply whose notice Telegram takes a few seconds to answer: the home is copied meanwhile.

        Until the Bot API answers, the delivery envelope (the reply handle) is still in the
        outbox, and the bot key opens it: the documented exposure of a reply in the seconds
        before its notice. The copy shows the attacker finds it, and only it.
        """
        if actor.person is None:
            raise AssertionError("no person")
        self.sandbox.delay(actor.chat_id, seconds=NOTICE_HOLD)  # under the bot's 5 s read timeout
        with self._staff("cas-main") as main:
            main.reply(actor.case_id or "", text)
        wait_until(lambda: self.sandbox.delayed(actor.chat_id), STEP_TIMEOUT, 0.05, what="the notice held")
        self.snapshot("notice-pending", in_flight={actor.chat_id})
        self.driver.await_notice(actor.person, actor.language)

    def _reader(self, actor: Actor) -> Person:
        """A new chat (a new account) for `actor`, from which they read their reply."""
        other = make_actor("READER", "elsewhere", 98)
        other.answers, other.canaries, other.language, other.case_id = {}, {}, actor.language, actor.case_id
        other.person = self._person(other.first_name, other.username, other.language, other.last_name)
        self.actors.append(other)
        return other.person

    def _cli_note(self, actor: Actor) -> None:
        if self.staffed is None or self.bot is None:
            raise AssertionError("not started")
        key = self.tmp / "cas-main.key"
        key.write_bytes(dump_identity(self.staffed.staff["cas-main"], PASSPHRASE.encode(), KDF_MINIMUM))
        env = {**os.environ, "WAYSTATION_PASSPHRASE": PASSPHRASE, "WAYSTATION_CONFIG_DIR": str(self.tmp / "cli")}
        text = f"cli note {self._staff_canary(f'cli-note.{actor.label}')}"
        done = subprocess.run([*waystation("staff", "--server", f"http://127.0.0.1:{self.bot.port}", "--key",
                                           str(key), "note", actor.case_id or "", text)],
                              capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise AssertionError(f"staff note failed: {done.stderr[-500:]}")

    def _ack(self, case_id: str) -> None:
        volunteer = self.volunteer
        if volunteer is None:
            raise AssertionError("no volunteer")
        _press(volunteer, ON_IT + case_id)
        wait_until(lambda: any(case_id[:6] in (m.get("text") or "") and not volunteer.buttons(m)
                               for m in volunteer.bot_messages()), STEP_TIMEOUT, POLL,
                   what="the alert taken by the volunteer")

    def follow_ups(self, actors: list[Actor], elsewhere: Actor) -> None:
        """Persons add information with their reference; one of them from a new chat."""
        other = make_actor("ELSEWHERE", "elsewhere", 99)
        other.answers = {}
        other.canaries = {}
        other.reference, other.case_id = elsewhere.reference, elsewhere.case_id
        other.person = self._person(other.first_name, other.username, other.language, other.last_name)
        self.actors.append(other)
        jobs = [(a, a.person) for a in actors] + [(other, other.person)]
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            list(pool.map(lambda job: self._follow_up(*job), jobs))

    def _follow_up(self, actor: Actor, person: Person | None) -> None:
        if person is None:
            raise AssertionError("no person")
        language = actor.language
        person.say("/start")
        _wait_text(person, tr(language, texts.CONSENT))
        _press(person, "f")
        _wait_text(person, tr(language, texts.FOLLOW_UP_ASK_REFERENCE))
        person.say(actor.reference or "")
        _wait_text(person, tr(language, texts.FOLLOW_UP_ASK_TEXT))
        person.say(f"more {_canary(actor, 'follow-up', language == 'ru')}")
        _wait_text(person, tr(language, texts.FOLLOW_UP_DONE).split("{")[0])

    # -- the end ---------------------------------------------------------------------------------

    def after_windows(self) -> None:
        """Wait until every person chat is empty (every delete window passed), then the bot stops."""
        limit = AFTER_SUBMIT + DELETE_AFTER + 60
        for actor in self.actors:
            if actor.person is not None:
                _wait_empty(actor.person, limit, f"{actor.label}'s chat to empty")
        self.driver.settle(self.home, [a.case_id for a in self.replies.get("expired", []) if a.case_id])
        time.sleep(2)  # the bot erases the rows right after Telegram confirmed the deletion
        self.snapshot("after-windows")
        if self.bot is not None:
            self.bot.stop()
        self.snapshot("stopped")

    def snapshot(self, name: str, in_flight: set[int] | None = None) -> Path:
        """Copy the live home (database, -wal, -shm, chats.state, secrets, roster, everything), as a seizure would.

        Also notes which person chats had messages to delete around the copy (ground truth
        for where a chat id may be; see verdict.Pending).
        """
        target = self.tmp / "seized" / name
        before = self._on_screen()
        started = time.time()
        copy_home(self.home, target)
        after = self._on_screen()
        deleted = {int(e["chat_id"]) for e in self.sandbox.events("messages_deleted")
                   if float(e["time"]) >= started - DELETION_GRACE and e.get("chat_id") is not None}
        self.pending[name] = Pending(frozenset(before | after | deleted), frozenset(in_flight or ()))
        self.snapshots[name] = target
        return target

    def _on_screen(self) -> set[int]:
        """Person chats that show at least one message now."""
        return {a.chat_id for a in self.actors if a.person is not None and a.person.messages()}

    # -- what the test knows ---------------------------------------------------------------------

    def truth(self) -> dict[int, str]:
        """Chat id -> case id of every submitted request (never given to the attacker)."""
        return {a.chat_id: a.case_id for a in self.actors if a.role == "submit" and a.case_id}

    def other_links(self) -> dict[int, str]:
        """Chat id -> case id of the chats that only used a reference (a reading, a follow-up from elsewhere).

        Not in `truth`: the chance bound counts each case once. A link read off the disk with a
        server key fails the test for these chats too.
        """
        return {a.chat_id: a.case_id for a in self.actors if a.role == "elsewhere" and a.case_id}

    def windows(self) -> list[int]:
        """Cases per time-granularity window (the attacker is granted the window of every chat)."""
        counts = Counter(t - t % GRANULARITY for t in self.created_at.values())
        return sorted(counts.values(), reverse=True)

    def needles(self) -> list[Needle]:
        """Everything that must never be found."""
        needles: list[Needle] = []
        for actor in self.actors:
            needles += [Needle(label, "canary", value) for label, value in actor.canaries.items()]
            needles += [Needle(f"{actor.label}.first_name", "name", actor.first_name),
                        Needle(f"{actor.label}.last_name", "name", actor.last_name),
                        Needle(f"{actor.label}.username", "username", actor.username)]
            if actor.reference and actor.role != "elsewhere":
                digits = actor.reference
                grouped = " ".join([digits[:4], digits[4:7], digits[7:10], digits[10:13], digits[13:]])
                needles += [Needle(f"{actor.label}.reference", "reference", digits),
                            Needle(f"{actor.label}.reference grouped", "reference", grouped)]
            if actor.person is not None:
                needles.append(Needle(f"{actor.label}.chat", "chat", actor.chat_id))
        needles += [Needle(label, "canary", value) for label, value in self.staff_canaries.items()]
        return needles

    def chat_labels(self) -> dict[str, int]:
        """Needle label of each chat -> chat id."""
        return {f"{a.label}.chat": a.chat_id for a in self.actors if a.person is not None}

    def write_needles(self, path: Path) -> None:
        """The needles as a JSON file for `python -m tests.seizure.attacker --needles` (test output only)."""
        path.write_text(json.dumps([{"label": n.label, "kind": n.kind, "value": n.value} for n in self.needles()]))


def _state(home: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for name in ("waystation.db", "waystation.db-wal"):
        path = home / name
        try:
            stat = path.stat()
            out.append((name, stat.st_size, stat.st_mtime_ns))
        except FileNotFoundError:
            out.append((name, -1, 0))
    return tuple(out)


def copy_home(home: Path, target: Path, attempts: int = 40) -> None:
    """Copy a live home; retry while the database or its WAL changed under the copy (a torn copy is kept last)."""
    for _ in range(attempts):
        shutil.rmtree(target, ignore_errors=True)
        before = _state(home)
        shutil.copytree(home, target)
        if _state(home) == before:
            return
        time.sleep(0.05)

