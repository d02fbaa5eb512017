"""Health checks of a server home: each problem found says what is wrong and what to do.

Read-only: nothing here writes to the home or migrates the database. Nothing here prints or
returns a secret; findings name files, keys of config.toml and roster members, never values.
The checks that need the bot package (the token, the Bot API) live in waystation/commands_ops.py.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from nacl.bindings import sodium_memcmp

from crypto.encoding import b64
from crypto.errors import CryptoError
from crypto.keys import load_identity
from crypto.roster import DAY, Role, Roster, verify_roster
from ops.backup import database_in_use
from storage.chatstate import CHAT_STATE_NAME, ChatStateDamaged, ChatStateFile
from storage.config import Config, RosterConfig, load_config
from storage.coverage import assess, open_cases
from storage.db import (
    Connection,
    DatabaseError,
    DatabaseKey,
    connect,
    damage,
    database_failure,
)
from storage.errors import (
    DatabaseDamaged,
    DatabaseKeyMissing,
    DatabaseKeyRejected,
    StorageError,
)
from storage.home import (
    PEPPER_CHECK_KEY,
    FoundKey,
    Home,
    KeySource,
    bot_key_history,
    exposed,
    key_rejected,
)
from storage.keyring import interrupted_rotation, load_previous_bot_keys, rerun_advice
from storage.rosterlife import (
    WARN_DAYS,
    Phase,
    expired_members,
    expiring_members,
    standing,
    within,
)
from storage.schema import SCHEMA_VERSION
from storage.server import ROSTER_SERIAL_KEY, pepper_matches

CLOCK_YEARS = range(2024, 2101)
CLOCK_TOLERANCE = 60
DELETION_GRACE = 600


class Level(StrEnum):
    """How bad a finding is: an error fails the doctor, a warning does not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem: which check found it, what is wrong, what to do."""

    level: Level
    check: str
    problem: str
    fix: str

    def line(self) -> str:
        """The finding on one line, for people."""
        text = f"{self.level.value}: [{self.check}] {self.problem}; fix: {self.fix}"
        return " ".join(text.split())


@dataclass
class Report:
    """Every finding of one run, and which checks ran."""

    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    #: Where the database key was read from (storage.home.KeyOrigin.describe()), never the key.
    key_source: str | None = None

    def error(self, check: str, problem: str, fix: str) -> None:
        self.findings.append(Finding(Level.ERROR, check, problem, fix))

    def warning(self, check: str, problem: str, fix: str) -> None:
        self.findings.append(Finding(Level.WARNING, check, problem, fix))

    def ran(self, check: str) -> None:
        if check not in self.checked:
            self.checked.append(check)

    @property
    def errors(self) -> int:
        return sum(f.level is Level.ERROR for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.level is Level.WARNING for f in self.findings)

    def as_json(self) -> dict[str, object]:
        """The report for scripts and monitoring."""
        return {
            "ok": self.errors == 0, "errors": self.errors, "warnings": self.warnings,
            "checked": list(self.checked),
            "findings": [{**asdict(f), "level": f.level.value} for f in self.findings],
            "db_key_source": self.key_source,
        }


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def diagnose(root: Path, now: int, environ: Mapping[str, str] = os.environ) -> tuple[Report, Config | None]:
    """Run every storage-level check of the home at `root`; returns the report and the config if valid."""
    report = Report()
    home = Home(root)
    report.ran("home")
    try:
        home.require()
    except StorageError as err:
        report.error("home", str(err), f"check --home, or create it with 'waystation init {root}'")
        return report, None
    check_modes(home, report)
    config = check_config(home, report)
    check_secrets(home, report)
    found = find_key(home, report, environ)
    conn = check_database(home, report, environ, found)
    check_db_key(home, report, found, conn)
    try:
        check_pepper(home, report, conn)
        check_bot_key(home, report, conn)
        check_roster(home, report, config, conn, now)
        check_clock(report, conn, now)
        check_deletions(home, report, conn, now, found)
    except DatabaseError as err:  # a page that fails only now: reported, never a traceback
        _unreadable(report, home, err)
    finally:
        if conn is not None:
            conn.close()
    return report, config


def check_modes(home: Home, report: Report) -> None:
    """The home and secrets/ are 0700, secrets 0600, everything owned by the home's owner."""
    report.ran("modes")
    owner = home.root.stat().st_uid
    places = [(home.root, True), (home.secrets, True)]
    places += [(p, False) for p in sorted(home.root.iterdir()) if p.name != "secrets"]
    if home.secrets.is_dir():
        places += [(p, True) for p in sorted(home.secrets.iterdir())]
    for path, secret in places:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            continue
        name = path.relative_to(home.root).as_posix() if path != home.root else "the home"
        problem = exposed(path)  # the same rule the bot enforces at start (Home.require_private_secrets)
        if problem is not None:
            mode, want = problem
            (report.error if secret else report.warning)(
                "modes", f"{name} is open to other users (mode {mode:04o})", f"chmod {want:o} {path}")
        if info.st_uid != owner:
            report.error("modes", f"{name} is owned by uid {info.st_uid}, the home by uid {owner}: "
                         "the service may not read it", f"chown -R {owner} {home.root}")


def check_config(home: Home, report: Report) -> Config | None:
    """config.toml parses and every value is in range."""
    report.ran("config")
    try:
        return load_config(home.config_path)
    except StorageError as err:
        report.error("config", str(err), f"edit {home.config_path} (the defaults are in docs/deploy.md)")
        return None


def check_secrets(home: Home, report: Report) -> None:
    """Bot identity, reference pepper, previous bot keys, and no half-done key rotation."""
    report.ran("secrets")
    try:
        load_identity(home.bot_identity_path.read_bytes(), None)
    except (OSError, CryptoError):
        report.error("secrets", f"{home.bot_identity_path} is missing or damaged",
                     "restore it from a backup; without it envelopes cannot be signed")
    try:
        home.pepper()
    except StorageError as err:
        report.error("secrets", str(err), "restore it from a backup; without it people's case references stop matching")
    try:
        load_previous_bot_keys(home)
    except StorageError as err:
        report.error("secrets", str(err), "restore secrets/previous_bot_keys from a backup")
    started = interrupted_rotation(home)
    if started is not None:
        pending = "secrets/db.key.new exists" if started == home.db_key_path else f"started with --key-file {started}"
        report.error("secrets", f"a database key rotation was interrupted ({pending})", rerun_advice(home, started))


def find_key(home: Home, report: Report, environ: Mapping[str, str]) -> FoundKey | None:
    """The database key and where it comes from (recorded in the report), or None if none is usable."""
    try:
        found = home.find_db_key(environ)
    except (DatabaseKeyMissing, DatabaseKeyRejected) as err:
        if home.db_path.is_file() and home.db_path.stat().st_size:
            report.ran("database")
            report.error("database", str(err),
                         "use the key that belongs to this database (a backup holds it), or restore from a backup")
        return None
    report.key_source = found.origin.describe()
    return found


def check_database(home: Home, report: Report, environ: Mapping[str, str],
                   found: FoundKey | None = None) -> Connection | None:
    """The key opens the database, its schema is known, and every page is there and authentic.

    The file is opened read-only (immutable while the bot is stopped): a doctor that wrote a
    header into an empty file would then pass it, with the roster's serial gone.
    """
    report.ran("database")
    if not home.db_path.is_file():
        report.error("database", f"no database at {home.db_path}", "restore the home from a backup; check --home")
        return None
    if home.db_path.stat().st_size == 0:
        report.error("database", f"{home.db_path} is empty (0 bytes): its cases, audit and roster serial are gone",
                     "stop the bot and restore waystation.db from the newest backup")
        return None
    if found is None:
        try:
            found = home.find_db_key(environ)
        except (DatabaseKeyMissing, DatabaseKeyRejected):
            return None  # find_key said so
    try:
        conn = connect(home.db_path, found.key, read_only=True)
    except DatabaseDamaged as err:
        report.error("database", err.problem, "stop the bot and restore waystation.db from the newest backup")
        return None
    except DatabaseKeyRejected:
        _key_refused(home, report, found)
        return None
    except StorageError as err:  # the disk, not the file: full, failing, read-only
        report.error("database", "the database could not be opened", str(err))
        return None
    problem = damage(home.db_path, conn)
    if problem is not None:
        conn.close()
        report.error("database", problem, "stop the bot and restore waystation.db from the newest backup")
        return None
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except DatabaseError as err:
        conn.close()
        _unreadable(report, home, err)
        return None
    if version > SCHEMA_VERSION:
        report.error("database", f"the database has schema version {version}, newer than this "
                     f"Waystation ({SCHEMA_VERSION})",
                     "run the newer Waystation; after a rollback, restore the backup made before the "
                     "upgrade (docs/deploy.md, A.10)")
    elif version == 0:
        report.error("database", "the database holds no Waystation tables (schema version 0): it is not "
                     "this home's database, or it was made anew", "restore waystation.db from the newest backup")
    elif version < SCHEMA_VERSION:
        report.warning("database", f"the database has schema version {version}; this Waystation "
                       f"migrates it to {SCHEMA_VERSION} when the bot starts",
                       "take a backup first ('waystation backup')")
    if version > SCHEMA_VERSION or version == 0:
        conn.close()
        return None
    return conn


def _opens(home: Home, key: DatabaseKey) -> bool:
    try:
        connect(home.db_path, key, read_only=True).close()
    except StorageError:
        return False
    return True


def _key_refused(home: Home, report: Report, found: FoundKey) -> None:
    """The key does not open the database: say which source was tried, and the fix that fits."""
    origin, problem = found.origin, key_rejected(found.origin, home.db_path)
    started = interrupted_rotation(home)
    if started is not None:  # the database may be under the rotation's new key: run it again, never restore
        report.error("database", str(key_rejected(origin, home.db_path, "a key rotation was interrupted")),
                     rerun_advice(home, started))
        return
    shadowed = home.file_key() if origin.shadowed_file is not None else None
    if shadowed is not None and _opens(home, shadowed):
        where = ("the credential's source file (on a systemd install: 'install -m 0600 "
                 f"{home.db_key_path} /etc/credstore/waystation-db-key')" if origin.source is KeySource.CREDENTIAL
                 else f"{origin.where}")
        report.error("database", f"the database key from {origin.describe()} does not open {home.db_path}, but "
                     f"the key in {home.db_key_path} does (a restored key, shadowed by {origin.describe()})",
                     f"put the key of {home.db_key_path} into {where}, then delete {home.db_key_path} and restart")
        return
    report.error("database", str(problem),
                 "use the key that belongs to this database (a backup holds it), or restore from a backup")


def check_db_key(home: Home, report: Report, found: FoundKey | None, conn: Connection | None) -> None:
    """No secrets/db.key lies in the home beside a credential (or WAYSTATION_DB_KEY) that comes before it."""
    report.ran("db-key")
    if found is None or found.origin.shadowed_file is None:
        return
    origin, path = found.origin, found.origin.shadowed_file
    file_key = home.file_key()
    same = file_key is not None and bool(sodium_memcmp(file_key, found.key))
    if same:
        report.warning("db-key", f"{path} is in the home although {origin.describe()} supplies the same key: "
                       "a copy of the home then holds the key beside the database",
                       f"delete it ('shred -u {path}'): the key is used from {origin.describe()}")
    elif conn is not None:
        report.warning("db-key", f"{path} holds another key than {origin.describe()}, which is the one used "
                       "(and opens the database): the file is ignored",
                       f"delete {path} once you are sure it is stale (each backup holds its database's key)")


def _unreadable(report: Report, home: Home, err: Exception) -> None:
    """A SQLite failure while reading the database, as a finding that says what to do."""
    failure = database_failure(err, home.db_path)
    if isinstance(failure, DatabaseDamaged):
        report.error("database", failure.problem, "stop the bot and restore waystation.db from the newest backup")
    else:
        report.error("database", f"the database could not be read ({type(err).__name__})", str(failure))


def check_pepper(home: Home, report: Report, conn: Connection | None) -> None:
    """The reference pepper matches the check value recorded in the database."""
    report.ran("pepper")
    if conn is None:
        return
    try:
        pepper = home.pepper()
    except StorageError:
        return  # missing or malformed: check_secrets said so
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (PEPPER_CHECK_KEY,)).fetchone()
    if row is None:
        report.warning("pepper", "no check value of secrets/reference_pepper is recorded yet (a home made before "
                       "this version): a damaged pepper cannot be detected until it is",
                       "nothing to do: the bot records it when it starts while no case is stored, or the first "
                       "time a person's follow-up matches their case")
    elif not pepper_matches(pepper, str(row[0])):
        report.error("pepper", f"{home.pepper_path} does not match this database's check value: people's "
                     "follow-ups and volunteer codes would match nothing, silently",
                     "restore secrets/reference_pepper from the backup that holds this database; "
                     "the bot refuses to start until then")


def check_bot_key(home: Home, report: Report, conn: Connection | None) -> None:
    """The bot identity is the newest one this database was used with, or its successor; not an older one."""
    report.ran("bot-key")
    if conn is None:
        return
    history = bot_key_history(conn)
    try:
        identity = load_identity(home.bot_identity_path.read_bytes(), None)
        retired = {b64(bytes(k.verify_key)) for k in load_previous_bot_keys(home)}
    except (OSError, CryptoError, StorageError):
        return  # check_secrets said so
    current = b64(bytes(identity.signing_key.verify_key))
    if not history or history[-1] == current or history[-1] in retired:
        return  # nothing recorded yet (an older home), the same key, or a newer identity than the database knows
    what = (f"an older bot identity (this database was used with {history[::-1].index(current)} newer one(s) "
            "since)" if current in history else "a bot identity this database was never used with")
    report.warning("bot-key", f"secrets/bot_identity.json (bot key {identity.public.fingerprint()}) is {what}: "
                   "caseworkers who pinned the newer key are refused, and the bot would sign new cases with this one",
                   "restore secrets/bot_identity.json and secrets/previous_bot_keys from the newest backup (or the "
                   "home a restore moved aside, HOME.before-restore-*); if none holds the newer key, run "
                   "'waystation rotate-bot-key' and have caseworkers pin the new key")


def check_roster(home: Home, report: Report, config: Config | None, conn: Connection | None, now: int) -> None:
    """The roster verifies and is valid (or says when it stops being), members are not expiring, cases are readable."""
    report.ran("roster")
    renew = f"'waystation roster renew --home {home.root} --admin KEYFILE'"
    renew_members = f"'waystation roster renew --home {home.root} --admin KEYFILE --members'"
    if not home.roster_path.exists():
        report.error("roster", "there is no roster: no request can be encrypted to anyone",
                     f"'waystation roster init --home {home.root} --admin KEYFILE'")
        return
    try:
        admins = home.trusted_admins()
    except StorageError as err:
        report.error("roster", str(err), "restore trusted_admins from a backup")
        return
    if not admins:
        report.error("roster", "no trusted admin key is pinned (trusted_admins is missing or empty)",
                     "restore trusted_admins from a backup")
        return
    serial = 0
    if conn is not None:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (ROSTER_SERIAL_KEY,)).fetchone()
        serial = int(row[0]) if row else 0
        if row is None:
            report.warning("roster", "the database has no record of the roster's serial (it is new, or was "
                           "replaced): an older roster would not be refused",
                           "if waystation.db was replaced by mistake, restore the newest backup; otherwise the "
                           "bot records the serial when it next reads the roster")
    try:
        signed = verify_roster(home.roster_path.read_bytes(), trusted_admins=admins, min_serial=serial)
    except CryptoError as err:
        report.error("roster", f"the roster is not usable: {err}", f"an admin must fix and re-sign it: {renew}")
        return
    grace = (config.roster if config is not None else RosterConfig()).grace_days
    current = standing(signed, now, grace)
    roster = current.roster
    by_signer = current.expires < roster.expires  # the admin who signed it expires first
    fix = renew_members if by_signer else renew
    why = f" (when '{current.signer.name}', the admin who signed it, expires on it)" if by_signer else ""
    if current.phase is Phase.GRACE:
        report.error("roster", f"the roster expired on {_date(current.expires)}{why}: staff are refused, and only "
                     f"until {_date(current.grace_ends)} (its grace period) are requests still encrypted to its "
                     "caseworkers of that day; after that every request is refused", f"renew it now: {fix}")
    elif current.phase is Phase.EXPIRED:
        report.error("roster", f"the roster expired on {_date(current.expires)}{why} and its grace period ended on "
                     f"{_date(current.grace_ends)}: every request is refused and staff cannot sign in",
                     f"renew it now (no new key is needed): {fix}")
    elif current.seconds_left < WARN_DAYS * DAY:
        report.warning("roster", f"the roster expires on {_date(current.expires)}{why}, "
                       f"{within(current.seconds_left)}: then staff are refused, and after "
                       f"{grace} days of grace every request", fix)
    if roster.issued > now + 300:
        report.warning("roster", f"the roster was signed on {_date(roster.issued)}, in this server's future",
                       "check this server's clock and the admin's")
    for member in expiring_members(roster, now, WARN_DAYS * DAY):
        report.warning("roster", f"{member.role.value} '{member.name}' expires on {_date(member.expires)}",
                       f"{renew_members} extends every member by [roster] member_days (revoke anyone who left)")
    for member in expired_members(roster, now):
        report.warning("roster", f"{member.role.value} '{member.name}' expired on {_date(member.expires)}: nothing "
                       "new is encrypted to them and their key is refused",
                       f"{renew_members} extends every member not revoked; or 'roster revoke' them if they left")
    if config is not None:
        _check_queues(home, report, config, roster, current.at)
    if current.sealable():
        check_coverage(home, report, config, conn, roster, current.at)


def _check_queues(home: Home, report: Report, config: Config, roster: Roster, now: int) -> None:
    for queue in _routed(config):
        if not roster.caseworkers_for(queue, now):
            report.error("roster", f"queue '{queue}' has no active caseworker: every request routed to it is refused",
                         f"'waystation roster add --home {home.root} --admin KEYFILE --role {Role.CASEWORKER.value} "
                         f"--queue {queue} PUBFILE'")


def _routed(config: Config | None) -> list[str]:
    if config is None:
        return []
    return list(dict.fromkeys([config.queues.default, *(rule.queue for rule in config.routing)]))


def check_coverage(home: Home, report: Report, config: Config | None, conn: Connection | None, roster: Roster,
                   at: int) -> None:
    """Open cases no active caseworker of their queue can read, thin queues, a lone admin (metadata only)."""
    report.ran("coverage")
    add = f"'waystation roster add --home {home.root} --admin KEYFILE --role {{role}} ... PUBFILE'"
    cases = open_cases(conn) if conn is not None else []
    try:
        bot_keys = [load_identity(home.bot_identity_path.read_bytes(), None).signing_key.verify_key,
                    *(entry.verify_key for entry in load_previous_bot_keys(home))]
    except (OSError, CryptoError, StorageError):
        bot_keys = []  # check_secrets reported it
        cases = []
    found = assess(roster, at, cases, bot_keys, _routed(config))
    if found.unreadable:
        listed = "; ".join(f"{u.case_id[:6]} in '{u.queue}' (sealed to {', '.join(u.sealed_to)})"
                           for u in found.unreadable[:10])
        more = f" and {len(found.unreadable) - 10} more" if len(found.unreadable) > 10 else ""
        report.error("coverage", f"{len(found.unreadable)} open cases cannot be read by any active caseworker of "
                     f"their queue: {listed}{more}",
                     "see 'A laptop is lost' in docs/operations.md: a revoked or expired key it was sealed to is "
                     "the only way to read it (renew --members if the key is only expired); if the person writes "
                     "again, the follow-up is sealed to today's caseworkers")
    if found.unverified:
        # A warning: trimming secrets/previous_bot_keys on purpose makes old cases refused (operations.md).
        report.warning("coverage", f"{len(found.unverified)} open cases have a request that does not verify with "
                       f"the bot's current or retired keys (staff see NOT VERIFIED): "
                       f"{', '.join(c[:6] for c in found.unverified[:10])}",
                       "unless secrets/previous_bot_keys was trimmed on purpose, restore it (or bot_identity.json) "
                       "from a backup")
    if found.orphaned:
        listed = ", ".join(f"{case_id[:6]} ({owner})" for case_id, owner in found.orphaned[:10])
        report.warning("coverage", f"{len(found.orphaned)} claimed cases belong to someone no longer an active "
                       f"caseworker of their queue: {listed}",
                       "a caseworker of the queue takes each over: 'waystation staff take-over CASE'")
    for queue, left in found.thin_queues:
        if not left and queue in _routed(config):
            continue  # _check_queues already made it an error
        who = f"only {left[0]}" if left else "nobody"
        report.warning("coverage", f"queue '{queue}' has fewer than two active caseworkers ({who}): one lost key "
                       "leaves its new cases unreadable", add.format(role="caseworker") + f" with --queue {queue}")
    if len(found.admins) < 2:
        who = found.admins[0] if found.admins else "nobody"
        report.warning("coverage", f"the roster has fewer than two active admins ({who}): if that key is lost, "
                       "nobody can change the roster or open the backups", add.format(role="admin"))


def check_clock(report: Report, conn: Connection | None, now: int) -> None:
    """The clock reads a plausible year and is not behind what the database already recorded."""
    report.ran("clock")
    year = datetime.fromtimestamp(now, UTC).year
    if year not in CLOCK_YEARS:
        report.error("clock", f"the clock says {_date(now)}", "set the time: 'timedatectl set-ntp true'")
        return
    if conn is None:
        return
    newest = conn.execute(
        "SELECT max(coalesce((SELECT max(updated_at) FROM cases), 0),"
        " coalesce((SELECT max(created_at) FROM case_events), 0),"
        " coalesce((SELECT max(at) FROM audit), 0))"
    ).fetchone()[0]
    if newest and int(newest) > now + CLOCK_TOLERANCE:
        minutes = (int(newest) - now) // 60
        report.error("clock", f"the clock is {minutes} minutes behind the newest record in the database",
                     "set the time ('timedatectl set-ntp true') before starting the bot")


def check_deletions(home: Home, report: Report, conn: Connection | None, now: int,
                    found: FoundKey | None) -> None:
    """The chat state (chats.state) opens with the database key, and no message waits long past its deletion time.

    Only read, never written. Checked only once the key has opened the database, so that a
    wrong key is not reported as a damaged chat state.
    """
    report.ran("deletions")
    if conn is None or found is None:
        return
    path = home.root / CHAT_STATE_NAME
    try:  # sealed under the key that opened the database, wherever it came from
        chats = ChatStateFile(path, found.key).read().chats.values()
    except ChatStateDamaged as err:
        report.error("deletions", f"{err}: the messages the bot still had to delete cannot be found",
                     f"stop the bot and move {path} out of the home (nothing can read it now; it is never in a "
                     "backup), then start the bot: it starts with nothing to delete, and the messages of chats "
                     "active in the last minutes stay in those chats")
        return
    overdue = sum(len(e.message_ids) for e in chats if e.due_at <= now - DELETION_GRACE)
    if overdue:
        report.warning("deletions", f"{overdue} messages are more than {DELETION_GRACE // 60} minutes past their "
                       "deletion time", "start the bot (it deletes them at start-up); Telegram allows it only "
                       "within 48 hours of sending")


def in_use_note(home: Home) -> bool:
    """Whether the bot (or another process) has the database open; for information only."""
    return home.db_path.exists() and database_in_use(home.db_path)
