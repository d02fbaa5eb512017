"""Operations: `waystation doctor`, `backup`, `restore`, `rotate-db-key`, `rotate-bot-key`."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import click
import httpx
from nacl.bindings import sodium_memcmp

from bot.errors import BotError, TokenMissing
from bot.form import load_form
from bot.token import load_token
from crypto.keys import dump_public, load_identity, load_public
from ops.admin_notices import Told, notify_admins
from ops.backup import (
    RestoreRefused,
    require_stopped,
    restore_backup,
    roster_admin_keys,
    write_backup,
)
from ops.doctor import Level, Report, diagnose, in_use_note
from ops.rekey import Recovery
from ops.rekey import rotate_bot_key as rotate_bot_identity
from ops.rekey import rotate_db_key as rotate_database_key
from storage.config import Config
from storage.db import Database, DatabaseError, connect
from storage.errors import StorageError
from storage.files import write_new
from storage.home import Home, KeySource
from storage.keyring import load_previous_bot_keys
from storage.schema import SCHEMA_VERSION
from waystation.common import home_option, json_option, now, print_json, unlock

BOT_API_TIMEOUT = 5.0


def _date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f} {unit}"


# -- doctor ------------------------------------------------------------------------------------


def check_bot(home: Home, config: Config | None, report: Report, network: bool) -> None:
    """The intake form loads, a token is there, and (if asked) the Bot API accepts it."""
    report.ran("form")
    try:
        load_form(home.root / "form.toml")
    except BotError as err:
        report.error("form", str(err), f"fix {home.root / 'form.toml'} or remove it to use the default form")
    report.ran("bot-token")
    try:
        token = load_token(home.secrets)
    except TokenMissing as err:
        report.error("bot-token", str(err), "get the token from @BotFather; the bot cannot start without it")
        return
    if not network or config is None:
        return
    report.ran("bot-api")
    base = config.telegram.api_base_url
    try:
        response = httpx.get(f"{base}{token}/getMe", timeout=BOT_API_TIMEOUT)
    except httpx.HTTPError as err:
        # The exception's text may hold the URL, and so the token: only its type is shown.
        report.warning("bot-api", f"the Bot API at {base} could not be reached ({type(err).__name__})",
                       "check the network, DNS and firewall; the bot keeps retrying by itself")
        return
    if response.status_code in (401, 404):
        report.error("bot-api", f"the Bot API at {base} refused the token (HTTP {response.status_code})",
                     "the token was revoked or mistyped: put the current one from @BotFather in secrets/bot_token")
        return
    try:
        ok = response.status_code == 200 and response.json().get("ok") is True
    except ValueError:
        ok = False
    if not ok:
        report.warning("bot-api", f"the Bot API at {base} answered getMe with HTTP {response.status_code}",
                       "check telegram.api_base_url in config.toml; try again later")


@click.command()
@home_option
@json_option
@click.option("--no-network", is_flag=True, help="Skip asking the Bot API (getMe); every other check still runs.")
@click.option("--notify-admins", is_flag=True,
              help="Tell the volunteers enrolled with admin notices, through the bot, what was found (counts and "
                   "check names only; once per change, errors daily). The one write doctor makes: a notice row.")
def doctor(home: Path, as_json: bool, no_network: bool, notify_admins: bool) -> None:
    """Check a server home; print one line per problem with what to do. Exit 1 on any error."""
    report, config = diagnose(home, now())
    if report.checked != ["home"]:  # the home exists: the bot's own checks make sense
        check_bot(Home(home), config, report, network=not no_network)
    running = in_use_note(Home(home))
    told = _tell_admins(Home(home), report, config) if notify_admins else None
    if as_json:
        extra: dict[str, object] = {"database_in_use": running}
        if told is not None:
            extra["admins_told"] = {"outcome": told[0], "admins": told[1]}
        print_json({**report.as_json(), **extra})
    else:
        for finding in report.findings:
            click.echo(finding.line())
        if report.key_source is not None:
            click.echo(f"database key: from {report.key_source}")
        if told is not None:
            click.echo(f"admins: {TOLD_LINES[told[0]].format(count=told[1])}")
        state = " (the database is open: the bot seems to be running)" if running else ""
        if report.findings:
            click.echo(f"doctor: {report.errors} errors, {report.warnings} warnings{state}")
        else:
            click.echo(f"doctor: all {len(report.checked)} checks passed{state}")
    if report.errors:
        raise SystemExit(1)


NOT_TOLD = "not-possible"
TOLD_LINES = {
    Told.QUEUED: "told through the bot ({count} volunteers with admin notices; the running bot sends it)",
    Told.ALREADY: "already told of these problems (errors are told again once a day)",
    Told.NO_ADMINS: "nobody was told: no volunteer is enrolled with admin notices "
                    "('waystation volunteers invite --admin-notices')",
    Told.CLEARED: "no problem now (the record of the last notice was cleared)",
    Told.NOTHING: "nothing to tell",
    NOT_TOLD: "could not be told: the database cannot take a notice now (see the database findings above)",
}


def _tell_admins(home: Home, report: Report, config: Config | None) -> tuple[str, int]:
    """Queue the admin notice of this report in the database (opened for writing, never migrated)."""
    if "database" not in report.checked or any(f.check == "database" and f.level is Level.ERROR
                                               for f in report.findings):
        return NOT_TOLD, 0
    granularity = config.privacy.time_granularity_seconds if config is not None else 1
    try:
        db = Database(home.db_path, connect(home.db_path, home.db_key(os.environ)), granularity)
    except StorageError:
        return NOT_TOLD, 0
    try:
        if db.schema_version != SCHEMA_VERSION:  # the bot migrates it at start; doctor never does
            return NOT_TOLD, 0
        return notify_admins(db, [(f.level.value, f.check) for f in report.findings], now())
    except (StorageError, DatabaseError):
        return NOT_TOLD, 0
    finally:
        db.close()


# -- backup and restore ------------------------------------------------------------------------


@click.command()
@home_option
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="New backup file, or an existing directory to put a dated one in.")
@click.option("--to", "extra", multiple=True, type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Also encrypt to this public key file, e.g. an offline backup key (repeatable).")
def backup(home: Path, out: Path, extra: tuple[Path, ...]) -> None:
    """Write an encrypted, consistent backup while the bot runs; only the roster's admins (and --to keys) open it."""
    t = now()
    target = Home(home).require()
    recipients = roster_admin_keys(target, t) + [load_public(p.read_bytes()).box_key for p in extra]
    if not recipients:
        raise click.ClickException("nobody could open this backup: the roster has no active admin "
                                   "(run 'waystation doctor'); pass --to PUBFILE with a key you hold")
    if out.is_dir():
        out = out / time.strftime("waystation-%Y%m%d-%H%M%S.backup", time.gmtime(t))
    summary = write_backup(target, out, recipients, t)
    click.echo(f"backup written: {summary.path} ({summary.snapshot.cases} cases, schema "
               f"v{summary.snapshot.schema_version}, {_size(summary.size)})")
    click.echo(f"encrypted to {summary.recipients} key(s); the bot token is not in it")
    click.echo(f"database key: from {summary.key_origin.describe()} (the backup holds it as secrets/db.key)")
    click.echo(f"restore with: waystation restore --home HOME --key KEYFILE {summary.path}")


@click.command()
@home_option
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Your private key file: an admin's, or a key the backup was made --to.")
@click.option("--force", is_flag=True, help="Replace an existing home (it is moved aside, not deleted).")
@click.argument("archive", type=click.Path(path_type=Path, dir_okay=False, exists=True))
def restore(home: Path, key_file: Path, force: bool, archive: Path) -> None:
    """Verify a backup completely, then restore it as HOME. Refuses an existing home without --force."""
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        if not force:
            raise RestoreRefused(f"{home} already exists and is not empty: pass --force to replace it "
                                 "(it is moved aside, not deleted)")
        require_stopped(Home(home), "restoring over this home")
    identity = unlock(key_file)
    summary = restore_backup(archive, home, identity.box_private, now(), force=force)
    roster = "no roster" if summary.roster_serial is None else f"roster #{summary.roster_serial}"
    click.echo(f"restored {summary.home} from a backup made {_date(summary.created)}: "
               f"{summary.snapshot.cases} cases, schema v{summary.snapshot.schema_version}, {roster}")
    if summary.kept_newer_roster:
        click.echo("kept the newer roster of the home it replaced (an older one could undo a revocation)")
    elif summary.roster_serial is not None:
        click.echo("check 'waystation roster show': revoke again anyone revoked after this backup was made")
    if summary.roster_expired:
        click.echo("the restored roster has expired: an admin must renew it ('waystation roster renew')")
    if summary.previous_home is not None:
        click.echo(f"the replaced home is at {summary.previous_home}: delete it once the restored one works")
    if summary.kept_newer_bot_key:
        click.echo("kept the newer bot identity of the home it replaced (the backup's is from before a "
                   "'rotate-bot-key': caseworkers' clients would refuse it)")
    _say_bot_key(Home(home))
    _say_restored_key(Home(home))
    click.echo(f"next: put the bot token back (secrets/bot_token or the credential), then "
               f"'waystation doctor --home {home}'")


def _say_bot_key(target: Home) -> None:
    """The restored bot key's fingerprint, for comparing with what caseworkers pinned."""
    identity = load_identity(target.bot_identity_path.read_bytes(), None)
    retired = len(load_previous_bot_keys(target))
    click.echo(f"bot key {identity.public.fingerprint()} ({retired} earlier bot keys kept): caseworkers using "
               "--server see the pinned one with 'waystation staff pin --server URL'; if theirs is newer, restore "
               "secrets/bot_identity.json and secrets/previous_bot_keys from a newer backup")


def _say_restored_key(target: Home) -> None:
    """Name the key the restored database is under, and whether a credential here would shadow it."""
    found = target.find_db_key(os.environ)
    restored = target.file_key()
    if found.origin.source is KeySource.FILE or restored is None:
        click.echo(f"database key: {target.db_key_path} (from the backup)")
        return
    if sodium_memcmp(found.key, restored):
        click.echo(f"database key: {found.origin.describe()} holds the same key as the backup's {target.db_key_path}: "
                   f"delete that file from the home ('shred -u {target.db_key_path}')")
        return
    click.echo(f"Warning: {found.origin.describe()} comes before {target.db_key_path} and holds another key, "
               "which does not open the restored database: install the restored key there (deploy.md step "
               f"A.3/B.3), then delete {target.db_key_path}", err=True)


# -- key rotation ------------------------------------------------------------------------------


@click.command("rotate-db-key")
@home_option
@click.option("--key-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The file that holds the database key and receives the new one (default: HOME/secrets/db.key).")
def rotate_db_key(home: Path, key_file: Path | None) -> None:
    """Re-key the database (PRAGMA rekey) with a fresh key; the bot must be stopped."""
    target = Home(home)
    path = key_file or target.db_key_path
    click.echo(f"database key: from {path}" + ("" if key_file else " (the default; --key-file names another)"))
    result = rotate_database_key(target, path, os.environ)
    if result is Recovery.COMPLETED:
        click.echo(f"finished an interrupted rotation: the database is under the new key, now in {path}")
    elif result is Recovery.CLEAN:
        click.echo(f"an interrupted rotation left nothing to settle: the key in {path} opens the database. "
                   "Run this command again to rotate.")
    elif result is Recovery.ROLLED_BACK:
        click.echo("an interrupted rotation had not changed the database; its unused new key was removed. "
                   "Run this command again to rotate.")
    else:
        click.echo(f"database re-keyed; the new key is in {path} and the old one opens nothing")
    if key_file is not None:
        click.echo("update every place that supplies the key (systemd credential, compose secret)"
                   " before starting the bot")


@click.command("rotate-bot-key")
@home_option
@click.option("--pub-out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the new bot public key to this new file, for caseworkers to pin.")
def rotate_bot_key(home: Path, pub_out: Path | None) -> None:
    """Give the bot a new identity; the old public key stays trusted for envelopes it already signed."""
    if pub_out is not None and pub_out.exists():
        raise click.ClickException(f"{pub_out} already exists: choose a new file name")
    result = rotate_bot_identity(Home(home), now())
    click.echo(f"new bot identity, fingerprint {result.new_fingerprint}")
    click.echo(f"retired bot key {result.old_fingerprint} kept in secrets/previous_bot_keys "
               f"({result.previous_count} retired in all): its envelopes still verify, its reply handles still open")
    if pub_out is not None:
        write_new(pub_out, dump_public(result.new_public), 0o644)
        click.echo(f"new bot public key written to {pub_out}")
    click.echo("caseworkers using --server must pin the new key: give them the .pub file, compare the "
               "fingerprint with them, and have them run 'waystation staff --server URL pin --bot FILE'")
    click.echo("start the bot again to use the new identity")
