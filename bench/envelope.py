"""Envelope v1 seal and open per second, against the raw PyNaCl operations they are made of.

Run from the repository root (project installed):

    python bench/envelope.py [--seconds 5] [--rounds 51] [--profile]

The request is 2 KiB sealed to 5 recipients. "Raw" is the same work done with
bare PyNaCl calls on buffers of the same sizes and nothing else:

    seal: 1 random content key, 5 x SealedBox(pk).encrypt(key),
          1 XChaCha20-Poly1305 encrypt of the padded payload (with associated data
          the size of the envelope header), 1 Ed25519 sign of the envelope body
    open: 1 Ed25519 verify of the envelope body, 1 SealedBox decrypt,
          1 XChaCha20-Poly1305 decrypt

Everything else the envelope does (nonce, key ids, header, padding, parsing,
checks) is counted as overhead. Targets: seal overhead at most 15 %, open at most 10 % (issue 10).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import nacl
import nacl.bindings
import nacl.utils
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey

from crypto.envelope import (
    CONTENT_KEY_SIZE,
    NONCE_SIZE,
    SIGNATURE_SIZE,
    TAG_SIZE,
    Kind,
    open_envelope,
    seal,
)
from crypto.keys import PublicIdentity, key_id
from crypto.padding import pad
from timing import (
    Contender,
    Timing,
    alternate,
    busy_warning,
    loop,
    machine,
    paired_median,
    paired_ratios,
    quartiles,
)

PAYLOAD_SIZE = 2048
RECIPIENTS = 5
OVERHEAD_TARGET = 0.15
OPEN_OVERHEAD_TARGET = 0.10
CASE_ID = "k3v7q2m9x4w8r6t5"  # the shape of intake.requests.new_case_id()
QUEUE = "main"

SEAL, OPEN, RAW_SEAL, RAW_OPEN = "envelope seal", "envelope open", "raw seal", "raw open"

_aead_encrypt = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt
_aead_decrypt = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt


@dataclass(frozen=True)
class Sizes:
    """Byte counts taken from a real envelope, so the raw side works on the same amounts."""

    payload: int
    padded: int
    header: int
    body: int
    envelope: int


@dataclass(frozen=True)
class Fixture:
    """Keys, a payload and one real envelope."""

    payload: bytes
    signer: SigningKey
    recipients: tuple[PrivateKey, ...]
    envelope: bytes

    @property
    def public_keys(self) -> tuple[PublicKey, ...]:
        return tuple(k.public_key for k in self.recipients)

    @property
    def sizes(self) -> Sizes:
        padded = len(pad(self.payload))
        body = len(self.envelope) - SIGNATURE_SIZE
        # body = header || nonce || 4-byte ciphertext length || ciphertext (padded + tag)
        header = body - NONCE_SIZE - 4 - (padded + TAG_SIZE)
        if header <= 0:
            raise RuntimeError("envelope layout is not what this benchmark expects; update it")
        return Sizes(len(self.payload), padded, header, body, len(self.envelope))


def make_fixture() -> Fixture:
    """Fresh keys, 2 KiB of random payload, and that payload sealed to 5 recipients."""
    signer = SigningKey.generate()
    recipients = tuple(PrivateKey.generate() for _ in range(RECIPIENTS))
    payload = nacl.utils.random(PAYLOAD_SIZE)
    envelope = seal_once(payload, signer, [k.public_key for k in recipients])
    return Fixture(payload, signer, recipients, envelope)


def seal_once(payload: bytes, signer: SigningKey, recipients: Sequence[PublicKey | PublicIdentity]) -> bytes:
    """One envelope seal as intake does it."""
    return seal(payload, kind=Kind.REQUEST, case_id=CASE_ID, queue=QUEUE, recipients=recipients, signer=signer)


def contenders(fx: Fixture) -> list[Contender]:
    """The envelope, the raw equivalent, and each raw component on its own."""
    sizes = fx.sizes
    public_keys = fx.public_keys
    recipient = fx.recipients[-1]
    trusted = [fx.signer.verify_key]
    verify_key = fx.signer.verify_key

    # Raw inputs of the same sizes as the real envelope's parts. The fixed nonce is
    # reused with throwaway keys and nothing is kept: harmless here, never in product code.
    content_key = nacl.utils.random(CONTENT_KEY_SIZE)
    nonce = nacl.utils.random(NONCE_SIZE)
    plaintext = nacl.utils.random(sizes.padded)
    associated = nacl.utils.random(sizes.header)
    body = nacl.utils.random(sizes.body)
    signature = fx.signer.sign(body).signature
    sealed_key = SealedBox(recipient.public_key).encrypt(content_key)
    ciphertext = _aead_encrypt(plaintext, associated, nonce, content_key)

    # As intake and the staff client do: recipients are roster identities whose key ids are
    # computed once, and a reader knows its own key id.
    identities = [PublicIdentity(f"r{i}", SigningKey.generate().verify_key, key) for i, key in enumerate(public_keys)]
    for identity in identities:
        _ = identity.key_id
    recipient_id = key_id(recipient.public_key)

    def envelope_seal() -> bytes:
        return seal_once(fx.payload, fx.signer, identities)

    def envelope_open() -> object:
        return open_envelope(
            fx.envelope, recipient=recipient, trusted_signers=trusted, case_id=CASE_ID, queue=QUEUE,
            kinds=(Kind.REQUEST,), recipient_id=recipient_id,
        )

    def raw_seal() -> bytes:
        key = nacl.utils.random(CONTENT_KEY_SIZE)
        for public_key in public_keys:
            SealedBox(public_key).encrypt(key)
        _aead_encrypt(plaintext, associated, nonce, key)
        return fx.signer.sign(body).signature

    def raw_open() -> bytes:
        verify_key.verify(body, signature)
        key = SealedBox(recipient).decrypt(sealed_key)
        return _aead_decrypt(ciphertext, associated, nonce, key)

    return [
        Contender(SEAL, loop(envelope_seal)),
        Contender(RAW_SEAL, loop(raw_seal)),
        Contender(OPEN, loop(envelope_open)),
        Contender(RAW_OPEN, loop(raw_open)),
        Contender("random content key", loop(lambda: nacl.utils.random(CONTENT_KEY_SIZE))),
        Contender("SealedBox encrypt", loop(lambda: SealedBox(public_keys[0]).encrypt(content_key))),
        Contender("AEAD encrypt", loop(lambda: _aead_encrypt(plaintext, associated, nonce, content_key))),
        Contender("Ed25519 sign", loop(lambda: fx.signer.sign(body))),
        Contender("Ed25519 verify", loop(lambda: verify_key.verify(body, signature))),
        Contender("SealedBox decrypt", loop(lambda: SealedBox(recipient).decrypt(sealed_key))),
        Contender("AEAD decrypt", loop(lambda: _aead_decrypt(ciphertext, associated, nonce, content_key))),
    ]


#: How many times each component occurs in raw seal and raw open.
SEAL_PARTS = {"random content key": 1, "SealedBox encrypt": RECIPIENTS, "AEAD encrypt": 1, "Ed25519 sign": 1}
OPEN_PARTS = {"Ed25519 verify": 1, "SealedBox decrypt": 1, "AEAD decrypt": 1}


@dataclass(frozen=True)
class Figures:
    """The outcome of one run."""

    sizes: Sizes
    rounds: int
    timings: dict[str, Timing]
    warning: str | None = None

    @property
    def seal_overhead(self) -> float:
        """Envelope seal time / raw seal time - 1 (median of per-round ratios)."""
        return paired_median(self.timings[SEAL], self.timings[RAW_SEAL]) - 1

    @property
    def open_overhead(self) -> float:
        """Envelope open time / raw open time - 1 (median of per-round ratios)."""
        return paired_median(self.timings[OPEN], self.timings[RAW_OPEN]) - 1

    def overhead_quartiles(self, envelope: str, raw: str) -> tuple[float, float]:
        """Quartiles of the per-round overhead: how sure the median is."""
        low, high = quartiles(paired_ratios(self.timings[envelope], self.timings[raw]))
        return low - 1, high - 1

    @property
    def seal_met(self) -> bool:
        return self.seal_overhead <= OVERHEAD_TARGET

    @property
    def open_met(self) -> bool:
        return self.open_overhead <= OPEN_OVERHEAD_TARGET


def measure(*, seconds: float = 5.0, rounds: int = 51) -> Figures:
    """Run every contender in alternating rounds for about `seconds` in total."""
    warning = busy_warning()
    fx = make_fixture()
    return Figures(fx.sizes, rounds, alternate(contenders(fx), rounds=rounds, seconds=seconds), warning)


def _row(name: str, t: Timing, count: int = 1) -> str:
    times = f"x{count}" if count > 1 else ""
    seconds = t.median * count
    return f"  {name:<22}{times:>3} {1 / seconds:>10,.0f} {seconds * 1e6:>9.1f} {t.spread:>8.1%}"


def report(fig: Figures) -> str:
    """The figures as a small table."""
    s = fig.sizes
    t = fig.timings
    lines = [
        f"Envelope v1: {s.payload}-byte request to {RECIPIENTS} recipients "
        f"(padded {s.padded}, header {s.header}, body {s.body}, envelope {s.envelope} bytes)",
        f"{machine()}, PyNaCl {nacl.__version__} (bundled libsodium)",
        f"{fig.rounds} alternating rounds, medians; spread = interquartile range / median",
        f"  {'':<25} {'ops/s':>10} {'us/op':>9} {'spread':>8}",
    ]
    if fig.warning:
        lines.insert(0, fig.warning)
    for env, raw, parts, overhead, met, target in (
        (SEAL, RAW_SEAL, SEAL_PARTS, fig.seal_overhead, fig.seal_met, OVERHEAD_TARGET),
        (OPEN, RAW_OPEN, OPEN_PARTS, fig.open_overhead, fig.open_met, OPEN_OVERHEAD_TARGET),
    ):
        lines.append(_row(env, t[env]))
        lines.append(_row(raw, t[raw]))
        for part, count in parts.items():
            lines.append(_row(f"  {part}", t[part], count))
        summed = sum(t[part].median * count for part, count in parts.items())
        lines.append(f"  {'  sum of parts':<25} {1 / summed:>10,.0f} {summed * 1e6:>9.1f}")
        low, high = fig.overhead_quartiles(env, raw)
        verdict = "met" if met else "NOT MET"
        lines.append(
            f"  {env.split()[1]} overhead: {overhead:+.1%} (quartiles {low:+.1%} .. {high:+.1%}; "
            f"target <= {target:.0%}: {verdict})"
        )
    return "\n".join(lines)


def profile(count: int = 2000, top: int = 14) -> str:
    """cProfile of `count` envelope seals and opens: where the time outside libsodium goes."""
    fx = make_fixture()
    named = {c.name: c for c in contenders(fx)}
    out = io.StringIO()
    for name in (SEAL, OPEN):
        profiler = cProfile.Profile()
        profiler.enable()
        named[name].batch(count)
        profiler.disable()
        out.write(f"--- {name} x {count}, by own time ---\n")
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="total time budget (default 5)")
    parser.add_argument("--rounds", type=int, default=51, help="alternating rounds (default 51)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of seal and open")
    args = parser.parse_args(argv)
    print(report(measure(seconds=args.seconds, rounds=args.rounds)))
    if args.profile:
        print(profile())
    return 0


if __name__ == "__main__":
    sys.exit(main())
