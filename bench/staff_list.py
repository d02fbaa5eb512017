"""The staff client lists and decrypts 10,000 cases, remote and direct, against the bare PyNaCl work behind it.

Run from the repository root (project installed):

    python bench/staff_list.py [--cases 10000] [--rounds 5] [--dir DIR] [--profile]

Setup (not timed): a fresh home (storage.home.init_home) with a signed roster
of one admin and five caseworkers on queue 'main'. One realistic request
(intake.requests.request_payload: the default form's answers, a reply handle,
about 600 bytes, padded to 1 KiB) is sealed with crypto.envelope.seal,
separately for each case (fresh content key and nonce), to the five
caseworkers and signed with the home's bot key, exactly as intake seals it. All
cases then go into the database in ONE transaction, with the same INSERTs as
storage.cases.CaseStore.enqueue (case row and audit row), instead of 10,000
separate commits; the reference hash is 32 random bytes instead of Argon2id
(neither changes what the client reads).

Timed, in one run:

- key unlock: crypto.keys.load_identity with the passphrase, on the
  caseworker's key file written as `waystation keys new` writes it (Argon2id
  at its default "moderate" cost); once per command, so reported apart.
- remote: what `waystation staff --server URL list` does after the unlock: a
  new staff.remote.RemoteStaff, connect() (GET /api/v1/info, roster and pins
  checked) and list() (GET /api/v1/cases?envelopes=1, the first 100 cases,
  then the rest page by page, every case checked, verified and decrypted, by
  worker processes for big lists: staff.listing). The staff API runs as `waystation bot run`
  mounts it (Starlette on uvicorn) in a separate process on a loopback port,
  so server and client do not share a GIL: the whole round trip, JSON and
  base64 on both sides, is inside the figure.
- GET /cases round trip: the same signed request with httpx and
  response.json(), nothing verified or decrypted (server work, transfer and
  JSON decoding), to split the remote figure.
- direct: what `waystation staff --home HOME list` does after the unlock:
  staff.direct.DirectDesk.open (Server.open, the roster checked) and list().
- raw: per case, one Ed25519 verify of the envelope body, one SealedBox
  decrypt of the caseworker's content key and one XChaCha20-Poly1305 decrypt
  of the ciphertext, with bare PyNaCl calls on slices of the real envelopes
  (cut before the clock starts).
- remote/direct first batch: from a new client (connect, /info, roster) to the first batch
  Desk.list_batches yields (staff.listing: the first 100 cases, read at once while the worker
  processes start);
- remote/direct list, desk: the same client listing again with its worker processes kept, as
  the desk (one long-lived process) does; "remote list" and "direct list" start and end their
  workers every time, as a one-shot `staff list` does;
- processor seconds of each list, every process of the client counted (workers and their start),
  which other load on the machine hardly moves.

Contenders alternate in order each round (A B C D, then D C B A, ...), with
the garbage collector on, as the CLI runs; figures are medians over rounds,
ratios are medians of per-round ratios. Targets (issue 12): the first batch in
under 1 s with 10,000 cases, the full list at most 1.3 x the single-core raw
PyNaCl work, unlock excluded. The temporary home is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import multiprocessing
import os
import pstats
import resource
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import httpx
import nacl
import nacl.bindings
import nacl.utils
import uvicorn
from nacl.public import SealedBox
from nacl.signing import VerifyKey
from starlette.applications import Starlette

from crypto.envelope import (
    NONCE_SIZE,
    SEALED_KEY_SIZE,
    SIGNATURE_SIZE,
    SIGNER_OFFSET,
    SIGNER_SIZE,
    Kind,
    seal,
)
from crypto.keys import (
    KDF_MODERATE,
    KEY_ID_SIZE,
    Identity,
    dump_identity,
    load_identity,
)
from crypto.roster import DAY, Member, Role, new_roster, sign_roster
from intake.requests import Request, new_case_id, request_payload, seal_reply_handle
from staff.direct import DirectDesk, ReadState
from staff.httpsig import sign_request
from staff.listing import cores
from staff.pins import PinStore
from staff.remote import RemoteStaff
from staffapi import staff_api_routes
from staffapi.limits import Limits
from storage.cases import CaseId
from storage.home import init_home
from storage.server import Server
from timing import Contender, Timing, busy_warning, machine, paired_median, quartiles

QUEUE = "main"
CASEWORKERS = 5
TARGET_SECONDS = 3.0
PASSPHRASE = b"bench passphrase, not a secret"
UNLOCK_ROUNDS = 3
URGENCIES = ("I am in danger now", "Within days", "Within weeks")

REMOTE, ROUND_TRIP, DIRECT, RAW = "remote list", "GET /cases round trip", "direct list", "raw PyNaCl"
REMOTE_KEPT, DIRECT_KEPT = "remote list, desk", "direct list, desk"
KEPT_WORKERS: list[Callable[[], list[int]]] = []  # the worker pids of the remote desk's client
REMOTE_FIRST, DIRECT_FIRST = "remote first batch", "direct first batch"
FIRST_TARGET = 1.0
RATIO_TARGET = 1.3

_aead_decrypt = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt


# -- the home ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """A home with `count` cases in 'main', and the caseworker who reads them."""

    root: Path
    reader: Identity
    key_file: bytes
    count: int
    envelope_size: int
    payload_size: int
    seconds: float


def _answers(n: int) -> dict[str, str]:
    return {
        "help": "A safe place now",
        "urgency": URGENCIES[n % 3],
        "country": "Somewhere far from home",
        "region": "The capital",
        "contact": "This chat, in the evenings after eight, please write first",
        "details": ("We are two, my partner and I. The landlord found out and told people; we left the flat "
                    "yesterday and stay with a friend for two more nights. We have passports but no visas."),
    }


def build_home(root: Path, count: int) -> Built:
    """A staffed home with `count` sealed requests in one queue, written in one transaction."""
    started = time.perf_counter()
    home = init_home(root)
    admin = Identity.generate("Bench Admin")
    readers = [Identity.generate(f"caseworker-{i}") for i in range(CASEWORKERS)]
    now = int(time.time())
    roster = new_roster(admin.public, now, 30, 365)
    for identity in readers:
        roster = roster.with_member(Member(identity.public, Role.CASEWORKER, (QUEUE,), now, now + 365 * DAY), now, 30)
    home.add_trusted_admin(admin.signing_key.verify_key, admin.name)
    with Server.open(root, environ={}) as server:
        server.save_roster(sign_roster(roster, admin), now)
        bot = server.bot_identity()
        recipients = [r.public for r in readers]
        payloads = [request_payload(Request(_answers(n), "ru", "telegram", seal_reply_handle(bot, 10**12 + n)), now)
                    for n in range(3)]
        granularity = server.config.privacy.time_granularity_seconds
        cases: list[tuple[CaseId, int, bytes]] = []
        for n in range(count):
            case_id = new_case_id()
            envelope = seal(payloads[n % 3], kind=Kind.REQUEST, case_id=case_id, queue=QUEUE,
                            recipients=recipients, signer=bot.signing_key)
            created = now - (count - n) * 60
            cases.append((case_id, created - created % granularity, envelope))
        with server.db.transaction() as conn:  # as CaseStore.enqueue, but one commit for all
            conn.executemany(
                "INSERT INTO cases (id, queue, status, created_at, updated_at, ref_hash, envelope)"
                " VALUES (?, ?, 'new', ?, ?, ?, ?)",
                [(c, QUEUE, t, t, nacl.utils.random(32), e) for c, t, e in cases])
            conn.executemany("INSERT INTO audit (at, actor, action, case_id) VALUES (?, 'intake', 'case.created', ?)",
                             [(t, c) for c, t, _ in cases])
        server.db.checkpoint()
    key_file = dump_identity(readers[0], PASSPHRASE, KDF_MODERATE)
    return Built(root, readers[0], key_file, count, len(cases[0][2]), len(payloads[0]),
                 time.perf_counter() - started)


# -- the staff API in its own process ------------------------------------------------------


def _serve(root: str, port: int) -> None:
    """Child process: the staff API over the home, as `waystation bot run` mounts it."""

    async def serve() -> None:
        with Server.open(Path(root), environ={}) as server:
            # The budgets are raised: the rounds list far more often than a desk would (a list of
            # 10,000 cases is 7 requests), and a 429 would measure the limiter, not the list.
            app = Starlette(routes=staff_api_routes(server, time.time, Limits.of(100_000, 100_000)))
            config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                                    lifespan="off")
            await uvicorn.Server(config).serve()

    asyncio.run(serve())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ApiProcess:
    """The staff API in a spawned process; stopped on exit."""

    def __init__(self, root: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = multiprocessing.get_context("spawn").Process(target=_serve, args=(str(root), self.port),
                                                                    daemon=True)

    def __enter__(self) -> Self:
        self.process.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not self.process.is_alive():
                raise RuntimeError("the staff API process exited at start")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the staff API did not start within 30 s")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(10)


# -- what is timed ------------------------------------------------------------------------


@dataclass(frozen=True)
class Slices:
    """The parts of one envelope the bare operations work on."""

    body: bytes
    signature: bytes
    sealed_key: bytes
    header: bytes
    nonce: bytes
    ciphertext: bytes


def cut(envelope: bytes, my_key_id: bytes) -> Slices:
    """Cut an envelope into the slices of docs/envelope.md (checked by the bare decrypt working)."""
    pos = SIGNER_OFFSET + SIGNER_SIZE
    for _ in range(2):  # case id, queue
        pos += 1 + envelope[pos]
    count = envelope[pos]
    pos += 1
    sealed_key = b""
    for _ in range(count):
        if envelope[pos : pos + KEY_ID_SIZE] == my_key_id:
            sealed_key = envelope[pos + KEY_ID_SIZE : pos + KEY_ID_SIZE + SEALED_KEY_SIZE]
        pos += KEY_ID_SIZE + SEALED_KEY_SIZE
    header, nonce = envelope[:pos], envelope[pos : pos + NONCE_SIZE]
    length = int.from_bytes(envelope[pos + NONCE_SIZE : pos + NONCE_SIZE + 4], "big")
    start = pos + NONCE_SIZE + 4
    body = envelope[:-SIGNATURE_SIZE]
    return Slices(body, envelope[-SIGNATURE_SIZE:], sealed_key, header, nonce, envelope[start : start + length])


def load_slices(built: Built) -> tuple[list[Slices], VerifyKey]:
    """Every envelope of the home, cut; and the bot's verify key."""
    with Server.open(built.root, environ={}) as server:
        envelopes = [c.envelope for c in server.cases.list(queues=[QUEUE], with_envelopes=True)]
        bot = server.bot_identity().signing_key.verify_key
    kid = built.reader.public.key_id
    return [cut(e, kid) for e in envelopes if e is not None], bot


def timed(operation: Callable[[], object]) -> Callable[[int], float]:
    """A batch of `n` calls, garbage collector left on (the CLI runs with it)."""

    def batch(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            operation()
        return time.perf_counter() - start

    return batch


def contenders(built: Built, api: ApiProcess, identity: Identity, pins: Path) -> list[Contender]:
    """The four things timed, each one call = all cases."""
    slices, bot_key = load_slices(built)
    private = identity.box_private
    expected = built.count

    def check(states: list[ReadState]) -> None:
        ok = sum(1 for s in states if s is ReadState.OK)
        if ok != expected or len(states) != expected:
            raise RuntimeError(f"the client read {ok} of {len(states)} cases, expected {expected}: bench is broken")

    def remote() -> None:
        with RemoteStaff(api.url, identity, PinStore(pins)) as client:
            client.connect()
            check([v.state for v in client.list()])

    kept = RemoteStaff(api.url, identity, PinStore(pins))  # the desk: one client, its workers kept
    KEPT_WORKERS.append(lambda: [] if kept._case_reader is None or kept._case_reader._pool is None
                        else list(kept._case_reader._pool._processes))

    def remote_kept() -> None:
        kept.connect()
        check([v.state for v in kept.list()])

    def remote_first(n: int) -> float:
        spent = 0.0
        for _ in range(n):
            start = time.perf_counter()
            with RemoteStaff(api.url, identity, PinStore(pins)) as client:
                client.connect()
                batches = client.list_batches()
                first = next(batches)
                spent += time.perf_counter() - start
                del batches  # closes the generator (its pending batches are cancelled)
            if not first or len(first) > expected:
                raise RuntimeError("no first batch")
        return spent

    def round_trip() -> None:
        with httpx.Client(timeout=60) as http:
            request = http.build_request("GET", f"{api.url}/api/v1/cases", params={"envelopes": "1"})
            sign_request(request, identity.signing_key, b"", now=time.time())
            answer = http.send(request).json()
        if len(answer["cases"]) != expected:
            raise RuntimeError("the round trip did not return every case")

    def direct() -> None:
        desk = DirectDesk.open(built.root, identity)
        try:
            check([v.state for v in desk.list()])
        finally:
            desk.shut()

    kept_desk: list[DirectDesk] = []

    def direct_kept() -> None:
        if not kept_desk:
            kept_desk.append(DirectDesk.open(built.root, identity))
        check([v.state for v in kept_desk[0].list()])

    def direct_first(n: int) -> float:
        spent = 0.0
        for _ in range(n):
            start = time.perf_counter()
            desk = DirectDesk.open(built.root, identity)
            try:
                batches = desk.list_batches()
                first = next(batches)
                spent += time.perf_counter() - start
                del batches  # closes the generator (its pending batches are cancelled)
            finally:
                desk.shut()
            if not first:
                raise RuntimeError("no first batch")
        return spent

    def raw() -> None:
        for s in slices:
            bot_key.verify(s.body, s.signature)
            content_key = SealedBox(private).decrypt(s.sealed_key)
            _aead_decrypt(s.ciphertext, s.header, s.nonce, content_key)

    if len(slices) != expected:
        raise RuntimeError("the home does not hold the cases built")
    return [Contender(REMOTE, timed(remote)), Contender(REMOTE_KEPT, timed(remote_kept)),
            Contender(REMOTE_FIRST, remote_first), Contender(ROUND_TRIP, timed(round_trip)),
            Contender(DIRECT, timed(direct)), Contender(DIRECT_KEPT, timed(direct_kept)),
            Contender(DIRECT_FIRST, direct_first), Contender(RAW, timed(raw))]


def cpu_seconds(operation: Callable[[int], float]) -> float:
    """Processor seconds of one call, in this process and in the worker processes it started and ended.

    Unlike wall time this hardly moves when other work shares the cores; the staff API's process
    is not counted (it is reaped only at the end).
    """
    def used() -> float:
        mine, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime

    start = used()
    operation(1)
    return used() - start


def _proc_cpu(pid: int) -> float:
    """Processor seconds of a live process (Linux /proc), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kept_cpu_seconds(operation: Callable[[int], float], workers: Callable[[], list[int]]) -> float:
    """Processor seconds of one list by a client whose worker processes are already running (the desk)."""
    operation(1)  # the workers are started

    def used() -> float:
        mine = resource.getrusage(resource.RUSAGE_SELF)
        return mine.ru_utime + mine.ru_stime + sum(_proc_cpu(pid) for pid in workers())

    start = used()
    operation(1)
    return used() - start


def rounds_of(items: Sequence[Contender], rounds: int) -> dict[str, Timing]:
    """One call of each per round, order reversed every other round, after one warm-up call each."""
    for contender in items:
        contender.batch(1)
    results: dict[str, list[float]] = {c.name: [] for c in items}
    for number in range(rounds):
        for contender in items if number % 2 == 0 else list(reversed(items)):
            results[contender.name].append(contender.batch(1))
    return {name: Timing(name, 1, tuple(values)) for name, values in results.items()}


def time_unlock(key_file: bytes) -> list[float]:
    """Seconds of load_identity at the key file's own (moderate) Argon2id cost, one per round."""
    spent = []
    for _ in range(UNLOCK_ROUNDS):
        start = time.perf_counter()
        load_identity(key_file, PASSPHRASE)
        spent.append(time.perf_counter() - start)
    return spent


# -- figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """The outcome of one run."""

    built: Built
    unlock: list[float]
    rounds: int
    timings: dict[str, Timing]
    warning: str | None
    cpu: dict[str, float]

    def seconds(self, name: str) -> float:
        """Median seconds for all cases."""
        return self.timings[name].median

    def ratio(self, name: str) -> float:
        """name / raw, median of per-round ratios."""
        return paired_median(self.timings[name], self.timings[RAW])

    def met(self, name: str) -> bool:
        """First screens under FIRST_TARGET seconds; full lists at most RATIO_TARGET x the single-core raw work."""
        if name in (REMOTE_FIRST, DIRECT_FIRST):
            return self.seconds(name) < FIRST_TARGET
        return self.ratio(name) <= RATIO_TARGET


@contextmanager
def workers_start_as_under_the_cli() -> Iterator[None]:
    """While inside, worker processes the client spawns load what they load under the `waystation` command.

    A spawned process first runs its parent's main script again (as __mp_main__): under the
    command that is the console script, which imports waystation.cli (its commands are loaded
    lazily); here it would be this benchmark, with the staff API's server stack, which the
    client's workers never load. So the main script is the console script while the clients
    run (the staff API's process, started before, keeps this one). Without an installed
    console script nothing changes, and the one-shot figures then include this heavier start.
    """
    main = sys.modules["__main__"]
    script, saved = shutil.which("waystation"), getattr(main, "__file__", None)
    if script is None or saved is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    main.__file__ = script
    try:
        yield
    finally:
        main.__file__ = saved


def measure(*, cases: int = 10_000, rounds: int = 5, directory: str | None = None) -> Figures:
    """Build the home, then time unlock and the contenders; then processor seconds of each list (median of 3)."""
    warning = busy_warning()
    with tempfile.TemporaryDirectory(prefix="waystation-bench-", dir=directory) as tmp:
        built = build_home(Path(tmp) / "home", cases)
        unlock = time_unlock(built.key_file)
        identity = load_identity(built.key_file, PASSPHRASE)
        with ApiProcess(built.root) as api, workers_start_as_under_the_cli():
            items = contenders(built, api, identity, Path(tmp) / "pins.json")
            timings = rounds_of(items, rounds)
            named = {c.name: c for c in items}
            cpu = {name: statistics.median(cpu_seconds(named[name].batch) for _ in range(3))
                   for name in (REMOTE, DIRECT, RAW)}
            cpu[REMOTE_KEPT] = statistics.median(kept_cpu_seconds(named[REMOTE_KEPT].batch, KEPT_WORKERS[-1])
                                                 for _ in range(3))
    return Figures(built, unlock, rounds, timings, warning, cpu)


def report(fig: Figures) -> str:
    """The figures as a small table."""
    b = fig.built
    n = b.count
    lines = [
        f"Staff client: list, verify and decrypt {n:,} cases in one queue "
        f"(request {b.payload_size} bytes, envelope {b.envelope_size} bytes, {CASEWORKERS} recipients; "
        f"home built in {b.seconds:.1f} s, not timed)",
        f"{machine()}, PyNaCl {nacl.__version__} (bundled libsodium)",
        f"key unlock (Argon2id moderate, once per command): median {statistics.median(fig.unlock):.2f} s "
        f"of {len(fig.unlock)} ({', '.join(f'{s:.2f}' for s in fig.unlock)})",
        f"{fig.rounds} alternating rounds, medians; GC on; spread = interquartile range / median",
        f"  {'':<24} {'seconds':>8} {'cases/s':>9} {'us/case':>8} {'x raw':>6} {'spread':>7}"
        f"  target: first batch < {FIRST_TARGET:.0f} s, list <= {RATIO_TARGET} x raw (one core)",
        f"  ('desk': one client listing again with its worker processes kept, as the desk does; "
        f"{cores()} worker processes)",
    ]
    if fig.warning:
        lines.insert(0, fig.warning)
    for name in (REMOTE_FIRST, REMOTE, REMOTE_KEPT, ROUND_TRIP, DIRECT_FIRST, DIRECT, DIRECT_KEPT, RAW):
        t = fig.timings[name]
        ratio = "" if name == RAW else f"{fig.ratio(name):.2f}"
        verdict = "" if name in (RAW, ROUND_TRIP) else ("met" if fig.met(name) else "NOT MET")
        spread = t.spread if len(t.per_round) >= 2 else 0.0
        lines.append(f"  {name:<24} {t.median:>8.3f} {n / t.median:>9,.0f} {t.median / n * 1e6:>8.1f} "
                     f"{ratio:>6} {spread:>7.1%}  {verdict}")
    raw_cpu = fig.cpu[RAW]
    lines.append(f"  processor seconds, every process of the client (workers included, their start too): "
                 f"remote {fig.cpu[REMOTE]:.2f} ({fig.cpu[REMOTE] / raw_cpu:.2f} x raw), direct {fig.cpu[DIRECT]:.2f} "
                 f"({fig.cpu[DIRECT] / raw_cpu:.2f} x raw), raw {raw_cpu:.2f}; remote desk, workers running: "
                 f"{fig.cpu[REMOTE_KEPT]:.2f} ({fig.cpu[REMOTE_KEPT] / raw_cpu:.2f} x raw)")
    client = [r - t for r, t in zip(fig.timings[REMOTE].per_round, fig.timings[ROUND_TRIP].per_round, strict=True)]
    lines.append(f"  remote minus round trip (client-side checks, base64, verify, decrypt): "
                 f"{statistics.median(client):.3f} s")
    if len(fig.timings[REMOTE].per_round) >= 2:
        low, high = quartiles([r / w for r, w in zip(fig.timings[REMOTE].per_round, fig.timings[RAW].per_round,
                                                      strict=True)])
        lines.append(f"  remote / raw quartiles {low:.2f} .. {high:.2f}")
    return "\n".join(lines)


def profile(cases: int = 10_000, top: int = 18, directory: str | None = None) -> str:
    """cProfile of one remote list (client side only) and one direct list: where the time goes."""
    out = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="waystation-bench-", dir=directory) as tmp:
        built = build_home(Path(tmp) / "home", cases)
        identity = load_identity(built.key_file, PASSPHRASE)
        with ApiProcess(built.root) as api:
            named = {c.name: c for c in contenders(built, api, identity, Path(tmp) / "pins.json")}
            for name in (REMOTE, DIRECT):
                named[name].batch(1)  # warm-up
                profiler = cProfile.Profile()
                profiler.enable()
                named[name].batch(1)
                profiler.disable()
                out.write(f"--- {name} of {cases:,} cases, by own time ---\n")
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases in the queue (default 10000)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--dir", default=None, help="where to put the temporary home (default: system temp)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of both lists")
    args = parser.parse_args(argv)
    print(report(measure(cases=args.cases, rounds=args.rounds, directory=args.dir)), flush=True)
    if args.profile:
        print(profile(args.cases, directory=args.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
