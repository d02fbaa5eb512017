"""An opened server home: config, database, bot identity and verified roster together."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nacl.bindings import sodium_memcmp
from nacl.signing import VerifyKey

from crypto.encoding import b64
from crypto.errors import CryptoError, RosterExpired, RosterRejected
from crypto.keys import Identity, load_identity
from crypto.reference import pepper_check
from crypto.roster import Roster, SignedRoster, load_roster, verify_roster
from storage.cases import CaseStore
from storage.config import Config, load_config
from storage.db import Database
from storage.errors import DatabaseKeyRejected, HomeInvalid, RosterUnavailable
from storage.files import replace
from storage.grants import GrantStore
from storage.home import (
    PEPPER_CHECK_KEY,
    Home,
    KeyOrigin,
    bot_key_history,
    key_rejected,
    record_bot_key,
)
from storage.keyring import interrupted_rotation, previous_bot_verify_keys, rerun_advice
from storage.rosterlife import Standing, date, standing

ROSTER_SERIAL_KEY = "roster_serial"

#: What identifies the roster's inputs on disk: each file's (inode, size, mtime, ctime), or None, and the stored serial.
FileStamp = tuple[int, int, int, int] | None
RosterStamp = tuple[FileStamp, FileStamp, str | None]


def _stamp(path: Path) -> FileStamp:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@dataclass(frozen=True)
class _Verdict:
    """What verifying the roster's inputs, in the state `stamp` names, gave: a signed roster or a refusal.

    Verification does not depend on the clock (crypto.roster.verify_roster), so a verdict holds
    for as long as the files and the stored serial are unchanged; the dates are checked per call.
    """

    stamp: RosterStamp
    signed: SignedRoster | None
    refusal: str | None


def pepper_matches(pepper: bytes, stored: str) -> bool:
    """Whether `pepper` has the check value `stored` (hex, from the meta table)."""
    try:
        expected = bytes.fromhex(stored)
    except ValueError:
        return False
    return bool(sodium_memcmp(pepper_check(pepper), expected))


@dataclass
class Server:
    """Everything a command, the bot or the staff API needs from one home."""

    home: Home
    config: Config
    db: Database
    _bot: Identity | None = field(default=None, repr=False)
    _verdict: _Verdict | None = field(default=None, repr=False)

    #: Where the database key came from; every command that opens the database says it (never the key).
    key_origin: KeyOrigin | None = None

    @classmethod
    def open(cls, root: Path, environ: Mapping[str, str] = os.environ) -> Server:
        """Open a home: check it, read config, unlock and migrate the database.

        A key that does not open the database is refused naming its source (a systemd credential
        silently coming before a restored secrets/db.key was the trap), or, after an interrupted
        `rotate-db-key`, saying to run it again.
        """
        home = Home(root).require()
        config = load_config(home.config_path)
        found = home.find_db_key(environ)
        try:
            db = Database.open(home.db_path, found.key, granularity=config.privacy.time_granularity_seconds)
        except DatabaseKeyRejected as err:
            started = interrupted_rotation(home)
            raise key_rejected(found.origin, home.db_path,
                               None if started is None else rerun_advice(home, started)) from err
        return cls(home, config, db, key_origin=found.origin)

    @property
    def cases(self) -> CaseStore:
        """The case repository."""
        return CaseStore(self.db)

    @property
    def grants(self) -> GrantStore:
        """Grants of this server's cases (storage/grants.py)."""
        return GrantStore(self.db)

    def bot_identity(self) -> Identity:
        """The bot's keys (kept unencrypted in secrets/, see docs/architecture.md)."""
        if self._bot is None:
            try:
                self._bot = load_identity(self.home.bot_identity_path.read_bytes(), None)
            except (OSError, CryptoError) as err:
                raise HomeInvalid(f"{self.home.bot_identity_path} is missing or damaged") from err
        return self._bot

    def pepper(self) -> bytes:
        """The reference pepper, refused if it does not match the check value recorded in the database.

        A damaged pepper would make every follow-up and volunteer code match nothing, silently:
        a person is answered the same whether their reference matched or not.
        """
        pepper = self.home.pepper()
        stored = self.db.meta(PEPPER_CHECK_KEY)
        if stored is not None and not pepper_matches(pepper, stored):
            raise HomeInvalid(f"{self.home.pepper_path} does not match this database (its check value differs): "
                              "restore secrets/reference_pepper from the backup that holds this database")
        return pepper

    def record_pepper_check(self, *, proven: bool = False) -> bool:
        """Record the pepper's check value if none is, when that cannot enshrine a damaged pepper.

        Safe when nothing hashed with a pepper is stored yet (whatever pepper is there now is the
        one every hash will use), or when `proven`: a stored hash was just matched with it.
        Returns whether a value was recorded. Homes made by `init` have one from the start.
        """
        if self.db.meta(PEPPER_CHECK_KEY) is not None:
            return False
        pepper = self.home.pepper()
        if not proven:
            hashed = self.db.conn.execute(
                "SELECT (SELECT count(*) FROM cases WHERE ref_hash IS NOT NULL)"
                " + (SELECT count(*) FROM volunteer_invites)").fetchone()[0]
            if hashed:
                return False
        with self.db.transaction() as conn:
            self.db.set_meta(conn, PEPPER_CHECK_KEY, pepper_check(pepper).hex())
        return True

    def note_bot_key(self) -> bool:
        """Record the bot's key as the newest this database is used with; False if it is older than the newest recorded.

        Recorded when nothing is yet (a home made before keys were recorded) or when the identity
        succeeded the recorded one (its previous_bot_keys lists it, as after a restore that kept
        the newer identity); an older or foreign identity is left for doctor to report.
        """
        current = self.bot_identity().signing_key.verify_key
        history = bot_key_history(self.db.conn)
        if history and history[-1] == b64(bytes(current)):
            return True
        if history and history[-1] not in {b64(bytes(k)) for k in previous_bot_verify_keys(self.home)}:
            return False
        record_bot_key(self.db, current)
        return True

    def trusted_bot_keys(self) -> list[VerifyKey]:
        """Keys whose envelopes staff accept: the bot's current key, then those retired by rotate-bot-key."""
        keys = [self.bot_identity().signing_key.verify_key, *previous_bot_verify_keys(self.home)]
        return list({bytes(k): k for k in keys}.values())

    def _roster_stamp(self) -> RosterStamp:
        return (_stamp(self.home.roster_path), _stamp(self.home.trusted_admins_path), self.db.meta(ROSTER_SERIAL_KEY))

    def _signed(self) -> SignedRoster:
        """roster.json verified against the pinned admins and the stored serial, whatever its dates.

        The verdict is kept in memory while roster.json, trusted_admins and the stored serial are
        unchanged (a stat of each file, one read of the serial): a revocation, which always writes
        a new roster.json, takes effect at the next call. This spares every staff API request a
        read and a signature check of the whole roster. Raises RosterUnavailable.
        """
        stamp = self._roster_stamp()  # taken before reading: a change after it shows at the next call
        verdict = self._verdict
        if verdict is None or verdict.stamp != stamp:
            try:
                signed = self._load_roster()
            except RosterUnavailable as err:
                self._verdict = _Verdict(stamp, None, str(err))
                raise
            # Loading may have recorded a higher serial: the verdict is for the state after that.
            verdict = self._verdict = _Verdict((stamp[0], stamp[1], self.db.meta(ROSTER_SERIAL_KEY)), signed, None)
        if verdict.signed is None:
            # The same files refused before are refused now: not read and checked again for each caller.
            raise RosterUnavailable(verdict.refusal or "the roster is not usable")
        return verdict.signed

    def roster(self, now: int) -> Roster:
        """The verified roster for use at `now` (staff, replies): refused once it or its signer has expired.

        Remembers the roster's serial so that an older file is refused later. Raises RosterUnavailable.
        """
        try:
            return self._signed().for_use(now)
        except RosterExpired as err:
            raise RosterUnavailable(f"the roster is not usable: {err}") from err

    def roster_standing(self, now: int) -> Standing:
        """Where the verified roster stands at `now`: valid, in its grace period, or expired (docs/operations.md).

        Raises RosterUnavailable only for a roster that does not verify at all (missing, altered,
        signed by an unpinned or revoked admin, rolled back); an expired one has a standing.
        """
        return standing(self._signed(), now, self.config.roster.grace_days)

    def sealing_roster(self, now: int) -> tuple[Roster, int]:
        """The roster new requests are sealed with, and the moment whose members count.

        While the roster is valid that moment is `now`; during its grace period (`[roster]
        grace_days` after it expired) it is the roster's last valid second, so requests go to the
        caseworkers it listed then. After the grace: RosterUnavailable, with what to run.
        """
        current = self.roster_standing(now)
        if not current.sealable():
            raise RosterUnavailable(
                f"the roster is not usable: it expired on {date(current.expires)} and its grace period ended on "
                f"{date(current.grace_ends)}; an admin must run 'waystation roster renew'")
        return current.roster, current.at

    def roster_for_renewal(self) -> Roster:
        """The verified roster, whatever its dates, for an admin to edit and re-sign (storage.rosterlife)."""
        return self._signed().roster

    def _load_roster(self) -> SignedRoster:
        try:
            data = self.home.roster_path.read_bytes()
        except FileNotFoundError as err:
            raise RosterUnavailable("there is no roster yet: run 'waystation roster init'") from err
        admins = self.home.trusted_admins()
        if not admins:
            raise RosterUnavailable("no trusted admin key is pinned: run 'waystation roster init'")
        seen = int(self.db.meta(ROSTER_SERIAL_KEY) or 0)
        try:
            signed = verify_roster(data, trusted_admins=admins, min_serial=seen)
        except RosterRejected as err:
            raise RosterUnavailable(f"the roster is not usable: {err}") from err
        if signed.roster.serial > seen:
            with self.db.transaction() as conn:
                self.db.set_meta(conn, ROSTER_SERIAL_KEY, str(signed.roster.serial))
        return signed

    def save_roster(self, data: bytes, now: int, new_admins: list[tuple[VerifyKey, str]] | None = None) -> Roster:
        """Replace roster.json with newly signed bytes, after verifying them as any reader would.

        `new_admins` are pinned as trusted admin keys, but only once the roster verified and was written.
        """
        admins = self.home.trusted_admins() + [key for key, _ in new_admins or []]
        seen = int(self.db.meta(ROSTER_SERIAL_KEY) or 0)
        try:
            roster = load_roster(data, trusted_admins=admins, now=now, min_serial=seen + 1 if seen else 0)
        except RosterRejected as err:
            raise RosterUnavailable(f"the new roster was refused: {err}") from err
        self._verdict = None
        replace(self.home.roster_path, data)
        for key, name in new_admins or []:
            self.home.add_trusted_admin(key, name)
        with self.db.transaction() as conn:
            self.db.set_meta(conn, ROSTER_SERIAL_KEY, str(roster.serial))
        return roster

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
