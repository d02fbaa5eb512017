"""Pinned keys of each staff server: trust on first use, then refuse any change a person did not confirm.

For every server (its base URL) the client keeps, in
`$WAYSTATION_CONFIG_DIR/pins.json` (default `$XDG_CONFIG_HOME/waystation/`,
else `~/.config/waystation/`):

- the admin signing keys that may sign the roster;
- the bot's signing and encryption keys, and earlier bot signing keys still
  trusted for old envelopes;
- the highest roster serial seen, so an older roster (which could undo a
  revocation) is refused.

On first contact whatever is not pinned yet is accepted and pinned (the
command prints the fingerprints to compare). Afterwards a roster must verify
against a pinned admin key; then the pinned admins become the active admins of
that roster (trust follows the signed roster: a revoked admin is unpinned, an
admin added by a pinned admin is pinned). A changed bot key is refused until
a person pins the new one from its .pub file.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nacl.public import PublicKey
from nacl.signing import VerifyKey

from crypto.encoding import b64, unb64
from crypto.errors import (
    CryptoError,
    RosterExpired,
    RosterMalformed,
    RosterRejected,
    RosterRolledBack,
)
from crypto.keys import PublicIdentity, fingerprint
from crypto.roster import Roster, load_roster
from model.files import replace
from staff.errors import PinMismatched, PinsInvalid, ServerAnswerInvalid

CONFIG_ENV = "WAYSTATION_CONFIG_DIR"
PINS_FORMAT = "waystation-pins"
PINS_VERSION = 1


def config_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the staff client keeps its pins."""
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    base = Path(environ["XDG_CONFIG_HOME"]) if environ.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "waystation"


@dataclass
class ServerPins:
    """What one server is trusted to present."""

    admins: dict[str, str] = field(default_factory=dict)
    bot_sign: str | None = None
    bot_box: str | None = None
    bot_history: list[str] = field(default_factory=list)
    roster_serial: int = 0

    def admin_keys(self) -> list[VerifyKey]:
        """The pinned admin signing keys."""
        return [VerifyKey(base64.b64decode(k)) for k in self.admins]

    def bot_keys(self) -> list[VerifyKey]:
        """Bot signing keys whose envelopes are trusted: the pinned one and earlier pinned ones."""
        raw = ([self.bot_sign] if self.bot_sign else []) + self.bot_history
        return [VerifyKey(base64.b64decode(k)) for k in dict.fromkeys(raw)]

    def to_json(self) -> dict[str, Any]:
        return {"admins": self.admins, "bot_sign": self.bot_sign, "bot_box": self.bot_box,
                "bot_history": self.bot_history, "roster_serial": self.roster_serial}

    @classmethod
    def from_json(cls, obj: Any) -> ServerPins:
        try:
            pins = cls(dict(obj["admins"]), obj["bot_sign"], obj["bot_box"], list(obj["bot_history"]),
                       int(obj["roster_serial"]))
            for key in [*pins.admins, *pins.bot_history, *([pins.bot_sign] if pins.bot_sign else []),
                        *([pins.bot_box] if pins.bot_box else [])]:
                unb64(key, 32, "pinned key", CryptoError)
        except (KeyError, TypeError, ValueError, CryptoError) as err:
            raise PinsInvalid("an entry of the pins file is damaged") from err
        return pins


class PinStore:
    """The pins file: one JSON document, replaced atomically, readable only by its owner."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def default(cls, environ: Mapping[str, str] = os.environ) -> PinStore:
        """The pins file in the configuration directory."""
        return cls(config_dir(environ) / "pins.json")

    def _read(self) -> dict[str, Any]:
        try:
            obj = json.loads(self.path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise PinsInvalid(f"{self.path} cannot be read: move it away to start trusting afresh") from err
        if not isinstance(obj, dict) or obj.get("format") != PINS_FORMAT or not isinstance(obj.get("servers"), dict):
            raise PinsInvalid(f"{self.path} is not a Waystation pins file")
        return dict(obj["servers"])

    def load(self, server: str) -> ServerPins | None:
        """The pins of one server, or None if it was never contacted."""
        entry = self._read().get(server)
        return None if entry is None else ServerPins.from_json(entry)

    def save(self, server: str, pins: ServerPins) -> None:
        """Write the pins of one server."""
        servers = self._read()
        servers[server] = pins.to_json()
        self._write(servers)

    def forget(self, server: str) -> bool:
        """Drop everything pinned for a server; True if there was something."""
        servers = self._read()
        if servers.pop(server, None) is None:
            return False
        self._write(servers)
        return True

    def _write(self, servers: dict[str, Any]) -> None:
        data = json.dumps({"format": PINS_FORMAT, "version": PINS_VERSION, "servers": servers},
                          indent=2, sort_keys=True).encode("utf-8") + b"\n"
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            replace(self.path, data)
        except OSError as err:
            raise PinsInvalid(f"cannot write {self.path}: {err.strerror or err}") from err


@dataclass(frozen=True)
class Trusted:
    """The outcome of checking a server's keys against the pins."""

    roster: Roster
    bot_keys: list[VerifyKey]
    bot_box: PublicKey
    newly_pinned: list[str]


def _roster_signer(data: bytes) -> VerifyKey:
    try:
        wrapper = json.loads(data.decode("utf-8"))
        return VerifyKey(unb64(wrapper.get("signer"), 32, "roster signer", RosterMalformed))
    except (UnicodeDecodeError, ValueError, AttributeError, CryptoError) as err:
        raise ServerAnswerInvalid("the server's roster is not a roster file") from err


def _describe(key: VerifyKey, roster: Roster | None) -> str:
    member = roster.by_verify_key(key) if roster is not None else None
    if member is None:
        return f"key {b64(bytes(key))}"
    return f"{member.name} ({member.identity.fingerprint()})"


def check_roster(server: str, data: bytes, pins: ServerPins, now: int) -> tuple[Roster, list[str]]:
    """Verify the roster against the pinned admins (or, on first use, against its own signer)."""
    signer = _roster_signer(data)
    first = not pins.admins
    trusted = [signer] if first else pins.admin_keys()
    try:
        roster = load_roster(data, trusted_admins=trusted, now=now, min_serial=pins.roster_serial)
    except RosterRolledBack as err:
        raise PinMismatched(f"{server} presents an older roster than it did before ({err}); refused") from err
    except RosterExpired as err:
        raise ServerAnswerInvalid(f"the roster of {server} has expired: an admin must renew it") from err
    except RosterRejected as err:
        if not first and bytes(signer) not in {bytes(k) for k in trusted}:
            raise PinMismatched(
                f"the roster of {server} is signed by an admin key you have not pinned "
                f"({_describe(signer, None)}); if your organisation really changed admins, check the new "
                "admin's fingerprint with them and run 'waystation staff --server URL pin --admin FILE.pub'"
            ) from err
        raise ServerAnswerInvalid(f"the roster of {server} does not verify: {err}") from err
    admins = {b64(bytes(m.identity.verify_key)): m.name for m in roster.admins(now)}
    added = [f"admin {_describe(VerifyKey(base64.b64decode(k)), roster)}" for k in admins if k not in pins.admins]
    pins.admins = admins
    pins.roster_serial = max(pins.roster_serial, roster.serial)
    return roster, added if first else []


def check_bot(server: str, bot: PublicIdentity, previous: list[VerifyKey], pins: ServerPins) -> list[str]:
    """Compare the bot's keys with the pinned ones; pin them on first use."""
    sign, box = b64(bytes(bot.verify_key)), b64(bytes(bot.box_key))
    if pins.bot_sign is None:
        pins.bot_sign, pins.bot_box = sign, box
        pins.bot_history = list(dict.fromkeys([*pins.bot_history, *(b64(bytes(k)) for k in previous)]))
        return [f"bot key {fingerprint(bot.verify_key, bot.box_key)}"]
    if (sign, box) != (pins.bot_sign, pins.bot_box):
        raise PinMismatched(
            f"the bot key of {server} changed (now {fingerprint(bot.verify_key, bot.box_key)}); refused: if an "
            "admin confirms the bot key was rotated, pin the new one with "
            "'waystation staff --server URL pin --bot BOT.pub'"
        )
    return []


def trust_server(store: PinStore, server: str, roster_data: bytes, bot: PublicIdentity,
                 previous: list[VerifyKey], now: int) -> Trusted:
    """Check a server's roster and bot keys against the pins, pinning what is new on first use."""
    pins = store.load(server) or ServerPins()
    before = pins.to_json()
    roster, new_admins = check_roster(server, roster_data, pins, now)
    new_bot = check_bot(server, bot, previous, pins)
    if pins.to_json() != before:
        store.save(server, pins)
    return Trusted(roster, pins.bot_keys(), bot.box_key, new_admins + new_bot)


def pin_admin(store: PinStore, server: str, admin: PublicIdentity) -> None:
    """Pin an admin key explicitly (from the admin's .pub file)."""
    pins = store.load(server) or ServerPins()
    pins.admins[b64(bytes(admin.verify_key))] = admin.name
    store.save(server, pins)


def pin_bot(store: PinStore, server: str, bot: PublicIdentity) -> None:
    """Pin the bot's keys explicitly; the previous signing key stays trusted for old envelopes."""
    pins = store.load(server) or ServerPins()
    if pins.bot_sign and pins.bot_sign != b64(bytes(bot.verify_key)):
        pins.bot_history = list(dict.fromkeys([*pins.bot_history, pins.bot_sign]))
    pins.bot_sign, pins.bot_box = b64(bytes(bot.verify_key)), b64(bytes(bot.box_key))
    store.save(server, pins)

