"""config.toml: the server's settings, every key with a default and a check."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from crypto.envelope import valid_queue
from storage.daytime import TimeOfDayInvalid, parse_time_of_day, zone
from storage.errors import ConfigInvalid


@dataclass(frozen=True)
class QueuesConfig:
    """Where requests go."""

    default: str = "main"


@dataclass(frozen=True)
class PrivacyConfig:
    """How quickly traces disappear."""

    delete_after_seconds: int = 600
    delete_after_submit_seconds: int = 120
    time_granularity_seconds: int = 600
    flood_messages: int = 20
    flood_window_seconds: int = 60


@dataclass(frozen=True)
class RetentionConfig:
    """How long closed cases are kept, and the daily run that purges them (docs/alerts.md)."""

    closed_case_days: int = 90
    warn_days: int = 3
    recent_activity_days: int = 7
    unclaimed_days: int = 14
    run_at: str = "03:00"


@dataclass(frozen=True)
class RepliesConfig:
    """How long a caseworker's reply waits for the person to read it with their reference."""

    expire_after_days: int = 30


@dataclass(frozen=True)
class RosterConfig:
    """Validity periods used when an admin signs the roster, and the grace after it expires (docs/operations.md)."""

    valid_days: int = 180
    member_days: int = 365
    grace_days: int = 30


@dataclass(frozen=True)
class TelegramConfig:
    """Where the Bot API is."""

    api_base_url: str = "https://api.telegram.org/bot"
    mode: str = "polling"
    webhook_url: str = ""
    max_messages_per_second: int = 30
    max_messages_per_minute_per_chat: int = 60
    bot_api_silence_seconds: int = 180


@dataclass(frozen=True)
class StaffApiConfig:
    """Where the staff API listens, and how many requests it takes (docs/staff-api.md)."""

    listen: str = "127.0.0.1:8765"
    requests_per_minute: int = 120
    unverified_per_minute: int = 60


@dataclass(frozen=True)
class LoggingConfig:
    """How the service logs: "text" for people, "json" (one object per line) for collectors."""

    format: str = "text"
    level: str = "info"


@dataclass(frozen=True)
class AlertsConfig:
    """Volunteer alerts: escalation, urgency, digest, pace of sending (docs/alerts.md)."""

    remind_after_minutes: int = 30
    urgent_remind_after_minutes: int = 10
    rounds: int = 3
    escalate_to: str = "tier2"
    urgent: str = "urgency:now"
    digest_at: str = "08:00"
    timezone: str = "UTC"
    invite_valid_hours: int = 24
    delete_after_hours: int = 24
    send_interval_ms: int = 1000
    check_seconds: int = 5

    def urgent_answers(self) -> frozenset[tuple[str, str]]:
        """(question id, option id) pairs that make a case urgent."""
        pairs = (item.strip().partition(":") for item in self.urgent.split(",") if item.strip())
        return frozenset((question, option) for question, _, option in pairs)


@dataclass(frozen=True)
class CoverConfig:
    """Cover mode (docs/cover.md): the bot's public face is a harmless utility; the intake opens only by entry code."""

    enabled: bool = False
    utility: str = "timezone"
    name: str = ""
    short_description: str = ""
    description: str = ""
    bot_username: str = ""


#: The utilities a cover can be (bot/cover_utility.py does their job).
COVER_UTILITIES = ("timezone", "units")
_BOT_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{4,31}$")
#: Telegram's limits for setMyName, setMyShortDescription, setMyDescription.
COVER_TEXT_LIMITS = {"name": 64, "short_description": 120, "description": 512}


@dataclass(frozen=True)
class IntakeConfig:
    """How people make a request (docs/configuration.md): the sealed form (a Mini App), the chat form, or both."""

    mode: str = "sealed_form"
    public_url: str = ""
    # Case tickets (case id, reference, its Argon2id hash) made ahead of time by a low-priority
    # thread, so a burst of people is not kept waiting by Argon2id (bot/refpool.py).
    ready_references: int = 64

    def sealed(self) -> bool:
        """Whether the sealed form is offered: asked for, and reachable at a public_url."""
        return self.mode in ("sealed_form", "both") and bool(self.public_url)


INTAKE_MODES = ("sealed_form", "chat", "both")


@dataclass(frozen=True)
class RoutingRule:
    """Send a request to `queue` when every condition given matches (first matching rule wins)."""

    queue: str
    languages: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    help: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    """The whole of config.toml."""

    queues: QueuesConfig = field(default_factory=QueuesConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    roster: RosterConfig = field(default_factory=RosterConfig)
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    staff_api: StaffApiConfig = field(default_factory=StaffApiConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    replies: RepliesConfig = field(default_factory=RepliesConfig)
    cover: CoverConfig = field(default_factory=CoverConfig)
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    routing: tuple[RoutingRule, ...] = ()


_MINIMUMS: dict[str, int] = {
    "delete_after_seconds": 5,
    "delete_after_submit_seconds": 5,
    "flood_messages": 1,
    "flood_window_seconds": 1,
    "time_granularity_seconds": 1,
    "closed_case_days": 1,
    "valid_days": 1,
    "member_days": 1,
    "remind_after_minutes": 1,
    "urgent_remind_after_minutes": 1,
    "invite_valid_hours": 1,
    "delete_after_hours": 1,
    "check_seconds": 1,
    "max_messages_per_second": 1,
    "max_messages_per_minute_per_chat": 1,
    "bot_api_silence_seconds": 10,
    "unclaimed_days": 1,
    "expire_after_days": 1,
    "requests_per_minute": 1,
    "unverified_per_minute": 1,
    "ready_references": 1,
}
_MAXIMUMS: dict[str, int] = {
    "delete_after_seconds": 47 * 3600,
    "delete_after_submit_seconds": 47 * 3600,
    "valid_days": 3650,
    "member_days": 3650,
    "grace_days": 365,
    "closed_case_days": 3650,
    "remind_after_minutes": 7 * 24 * 60,
    "urgent_remind_after_minutes": 7 * 24 * 60,
    "rounds": 20,
    "invite_valid_hours": 30 * 24,
    "delete_after_hours": 47,
    "send_interval_ms": 60_000,
    "check_seconds": 300,
    "max_messages_per_second": 1000,
    "max_messages_per_minute_per_chat": 60_000,
    "bot_api_silence_seconds": 3600,
    "warn_days": 365,
    "recent_activity_days": 365,
    "unclaimed_days": 3650,
    "expire_after_days": 365,
    "requests_per_minute": 60_000,
    "unverified_per_minute": 60_000,
    "ready_references": 10_000,
}  # Telegram deletes only within 48 h
_NO_MAXIMUM = 10**9


def int_range(key: str) -> tuple[int, int]:
    """The smallest and largest value a whole-number key accepts (docs/configuration.md lists them)."""
    return _MINIMUMS.get(key, 0), _MAXIMUMS.get(key, _NO_MAXIMUM)


def _section(cls: type, name: str, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigInvalid(f"config.toml: [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigInvalid(f"config.toml: unknown key {name}.{unknown[0]} (check the spelling)")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        expected = type(getattr(cls(), key))
        if expected is int and (not isinstance(value, int) or isinstance(value, bool)):
            raise ConfigInvalid(f"config.toml: {name}.{key} must be a whole number")
        if expected is bool and not isinstance(value, bool):
            raise ConfigInvalid(f"config.toml: {name}.{key} must be true or false")
        if expected is str and not isinstance(value, str):
            raise ConfigInvalid(f"config.toml: {name}.{key} must be a string")
        lowest, highest = int_range(key)
        if expected is int and not lowest <= value <= highest:
            raise ConfigInvalid(f"config.toml: {name}.{key} = {value} is out of range ({lowest}..{highest})")
        values[key] = value
    return cls(**values)


def _routing(raw: Any) -> tuple[RoutingRule, ...]:
    if not isinstance(raw, list):
        raise ConfigInvalid("config.toml: routing must be written as [[routing]] tables")
    rules: list[RoutingRule] = []
    for number, item in enumerate(raw, 1):
        where = f"config.toml: routing rule {number}"
        if not isinstance(item, dict):
            raise ConfigInvalid(f"{where} must be a table")
        unknown = sorted(set(item) - {"queue", "languages", "countries", "help"})
        if unknown:
            raise ConfigInvalid(f"{where}: unknown key {unknown[0]}")
        queue = item.get("queue")
        if not isinstance(queue, str) or not valid_queue(queue):
            raise ConfigInvalid(f"{where}: queue must be 1..64 of a-z, 0-9, '_', '-'")
        lists: dict[str, tuple[str, ...]] = {}
        for key in ("languages", "countries", "help"):
            value = item.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise ConfigInvalid(f"{where}: {key} must be a list of strings")
            lists[key] = tuple(v.casefold() for v in value)
        rules.append(RoutingRule(queue, **lists))
    return tuple(rules)


_CHOICE = re.compile(r"^[a-z][a-z0-9_]{0,23}:[a-z][a-z0-9_]{0,23}$")


def _check_alerts(config: Config) -> None:
    """Format checks of [alerts] and of the [retention] schedule."""
    alerts = config.alerts
    if alerts.escalate_to not in ("tier2", "all"):
        raise ConfigInvalid('config.toml: alerts.escalate_to must be "tier2" or "all"')
    if not all(_CHOICE.fullmatch(item.strip()) for item in alerts.urgent.split(",") if item.strip()):
        raise ConfigInvalid('config.toml: alerts.urgent must be question:option pairs, e.g. "urgency:now"')
    for key, value in (("alerts.digest_at", alerts.digest_at), ("retention.run_at", config.retention.run_at)):
        try:
            parse_time_of_day(value)
        except TimeOfDayInvalid as err:
            raise ConfigInvalid(f"config.toml: {key} must be a time of day HH:MM") from err
    try:
        zone(alerts.timezone)
    except TimeOfDayInvalid as err:
        raise ConfigInvalid("config.toml: alerts.timezone must be an IANA time zone such as Europe/Berlin") from err


def _check_cover(cover: CoverConfig) -> None:
    """Format checks of [cover]."""
    if cover.utility not in COVER_UTILITIES:
        raise ConfigInvalid(f"config.toml: cover.utility must be one of {', '.join(map(repr, COVER_UTILITIES))}")
    for key, limit in COVER_TEXT_LIMITS.items():
        value = getattr(cover, key)
        if len(value) > limit or any(not ch.isprintable() and ch != "\n" for ch in value):
            raise ConfigInvalid(f"config.toml: cover.{key} must be at most {limit} printable characters")
    if cover.bot_username and not _BOT_USERNAME.fullmatch(cover.bot_username.removeprefix("@")):
        raise ConfigInvalid("config.toml: cover.bot_username must be the bot's username, e.g. \"WorldClockBot\"")


def _check_intake(intake: IntakeConfig) -> None:
    """Format checks of [intake]."""
    if intake.mode not in INTAKE_MODES:
        raise ConfigInvalid(f"config.toml: intake.mode must be one of {', '.join(map(repr, INTAKE_MODES))}")
    url = intake.public_url
    # Telegram opens Mini Apps only over https; plain http only to this machine (sandbox, demo, tests).
    if url and (not url.startswith(("https://", "http://127.0.0.1:", "http://localhost:")) or url != url.strip()
                or any(ch in url for ch in "?#\"\\ ")):
        raise ConfigInvalid("config.toml: intake.public_url must be an https:// base URL without query or "
                            "fragment (plain http only to this machine, for the sandbox)")


def parse_config(text: str) -> Config:
    """Parse and check config text; raises ConfigInvalid with the key at fault."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigInvalid(f"config.toml is not valid TOML: {err}") from err
    defaults = Config()
    sections: dict[str, type] = {f.name: type(getattr(defaults, f.name)) for f in fields(Config) if f.name != "routing"}
    unknown = sorted(set(raw) - set(sections) - {"routing"})
    if unknown:
        raise ConfigInvalid(f"config.toml: unknown section [{unknown[0]}] (check the spelling)")
    config = Config(
        **{name: _section(factory, name, raw[name]) for name, factory in sections.items() if name in raw},
        routing=_routing(raw.get("routing", [])),
    )
    if config.telegram.mode not in ("polling", "webhook"):
        raise ConfigInvalid("config.toml: telegram.mode must be \"polling\" or \"webhook\"")
    if config.telegram.mode == "webhook" and not config.telegram.webhook_url.startswith(
        ("https://", "http://127.0.0.1:", "http://localhost:")
    ):
        raise ConfigInvalid("config.toml: telegram.webhook_url must be an https:// URL in webhook mode "
                            "(plain http only to this machine, for the sandbox)")
    if not valid_queue(config.queues.default):
        raise ConfigInvalid("config.toml: queues.default must be 1..64 of a-z, 0-9, '_', '-'")
    host, _, port = config.staff_api.listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigInvalid("config.toml: staff_api.listen must be HOST:PORT")
    if config.logging.format not in ("text", "json"):
        raise ConfigInvalid("config.toml: logging.format must be \"text\" or \"json\"")
    if config.logging.level not in ("debug", "info", "warning", "error"):
        raise ConfigInvalid("config.toml: logging.level must be \"debug\", \"info\", \"warning\" or \"error\"")
    if not config.telegram.api_base_url.startswith(("https://", "http://")):
        raise ConfigInvalid("config.toml: telegram.api_base_url must be an http(s) URL")
    _check_alerts(config)
    _check_cover(config.cover)
    _check_intake(config.intake)
    return config


def load_config(path: Path) -> Config:
    """Read and parse config.toml."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigInvalid(f"no config.toml at {path}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigInvalid(f"cannot read {path}: {err}") from err
    return parse_config(text)


DEFAULT_CONFIG = """\
# Waystation server configuration. Every key is optional; these are the defaults.
# See docs/configuration.md for what each one means.

[queues]
# Queue a request goes to when nothing else decides.
default = "main"

[privacy]
# Every message in an intake chat is deleted this many seconds after the last activity
# (at most 47 hours: Telegram lets bots delete messages only within 48 hours).
delete_after_seconds = 600
# ... and this soon after a request is sent, once the person has seen their reference.
delete_after_submit_seconds = 120
# A chat that sends more than flood_messages within flood_window_seconds is ignored for a while.
flood_messages = 20
flood_window_seconds = 60
# Case timestamps are rounded down to this many seconds, so that the database's
# times cannot be matched precisely against a chat's. The deletion times kept on disk
# (chats.state) are rounded up to it: after a crash or restart, a chat is deleted up
# to this much later than it would have been.
time_granularity_seconds = 600

[retention]
# Closed cases are purged after this many days.
closed_case_days = 90
# Admins (volunteers enrolled with --admin-notices) are warned this many days before a purge.
warn_days = 3
# A closed case with a note, follow-up or reply in the last recent_activity_days is kept for now.
recent_activity_days = 7
# Admins are told, once a day, how many cases have waited longer than this without being claimed.
unclaimed_days = 14
# Time of day (HH:MM, UTC) of the daily run: warnings, purge, then VACUUM of the database.
run_at = "03:00"

[roster]
# How long a newly signed roster, and a newly added member, stay valid.
# 'waystation roster renew' re-signs it; '--members' also extends every member by member_days.
valid_days = 180
member_days = 365
# After the roster expires, requests are still encrypted to the caseworkers it listed at that
# moment for this many days (0..365; 0: none), while the log, doctor, /metrics and the admins'
# notices say so. After it, every request is refused until an admin renews the roster.
grace_days = 30

[telegram]
# Bot API base URL: Telegram, a self-hosted Bot API server, or the local sandbox.
# The token is never here: it is read from secrets/bot_token or WAYSTATION_BOT_TOKEN.
api_base_url = "https://api.telegram.org/bot"
# "polling" (default) or "webhook" (then webhook_url is the public https URL that reaches
# this server's /telegram/webhook through the reverse proxy).
mode = "polling"
webhook_url = ""
# Messages per second the bot sends at most, in all chats together (Telegram allows about 30).
max_messages_per_second = 30
# Messages a minute the bot sends to any one chat, after a burst of 3 (Telegram allows about one
# a second). Each chat is paced on its own, and a flood-control answer pauses only that chat.
max_messages_per_minute_per_chat = 60
# /healthz reports the Bot API unreachable when no call has had an answer for this many seconds
# (an idle bot asks getMe after a third of it, so a quiet night is not an outage; 10..3600).
bot_api_silence_seconds = 180

# Routing: the first rule whose conditions all match picks the queue; otherwise queues.default.
# Conditions: languages (the person's language), countries (their answer, any case),
# help (option ids of the "help" question).
# [[routing]]
# queue = "ru-speaking"
# languages = ["ru", "uk"]

[staff_api]
listen = "127.0.0.1:8765"
# Requests a minute one staff key may make (a quarter of it at once). Over it: 429 with Retry-After.
requests_per_minute = 120
# Requests a minute from one network address that no staff key vouches for: unsigned, naming a
# key not on the roster, or whose signature fails. Behind a reverse proxy or a Tor onion service
# every caller has the proxy's address, so this is then one budget for all such requests.
unverified_per_minute = 60

[logging]
# "text" for people reading a terminal or the journal; "json" for one JSON object per line.
# Either way a log line never holds message text, names, usernames or chat ids.
format = "text"
level = "info"

[alerts]
# Volunteers get a content-free alert when a case enters their queue (docs/alerts.md).
# A case nobody acknowledged or claimed is re-alerted after this many minutes, to a wider circle ...
remind_after_minutes = 30
# ... or after this many if it is urgent.
urgent_remind_after_minutes = 10
# At most this many reminder rounds after the first alert.
rounds = 3
# Who reminders reach: "tier2" (tiers 1 and 2 of the case's queue) or "all" (every active volunteer).
escalate_to = "tier2"
# Answers (question:option, comma-separated) that make a case urgent: reminded sooner, and sent
# even during a volunteer's quiet hours.
urgent = "urgency:now"
# The daily digest to each queue's volunteers: time of day (HH:MM) in this time zone.
digest_at = "08:00"
timezone = "UTC"
# How long a volunteer invitation code stays valid.
invite_valid_hours = 24
# Messages in volunteer chats are deleted this many hours after the last one (at most 47).
delete_after_hours = 24
# Least time between two messages to the same volunteer chat (Telegram allows about one a second).
send_interval_ms = 1000
# How often the bot checks for alerts to send, deadlines, the digest and the retention run.
check_seconds = 5

[replies]
# A caseworker's reply waits, sealed to a key derived from the person's reference, until the
# person reads it by sending their reference to the bot. After this many days unread, it is
# erased and the caseworkers see it as expired (1..365).
expire_after_days = 30

[cover]
# Cover mode (docs/cover.md; recommended where a phone may be searched): the bot's name,
# descriptions and commands are those of a small utility, which it really runs for anyone,
# and the intake opens only through a link with an entry code ('waystation entry new').
enabled = false
# The utility: "timezone" (converts times between time zones) or "units" (converts units).
utility = "timezone"
# The bot's public name and descriptions; empty: the utility's own, in each language.
name = ""
short_description = ""
description = ""
# The bot's @username (without @), for the t.me links and QR codes 'waystation entry new' prints.
bot_username = ""

[intake]
# How a person makes a request (docs/envelope.md, docs/threat-model.md):
# "sealed_form" (default): /start opens a form inside Telegram (a Mini App) that encrypts the
#   answers on the phone, so Telegram carries only ciphertext; the chat form is offered as a
#   fallback button for clients without Mini Apps;
# "chat": the questions are asked in the chat (Telegram can read the answers);
# "both": both buttons, side by side.
mode = "sealed_form"
# The https base URL under which this server's listener (staff_api.listen) is reachable through the
# reverse proxy, e.g. "https://help.example.org" (docs/deploy.md). The form is served at /form/.
# Empty: no sealed form can be opened, so the bot uses the chat form whatever mode says.
public_url = ""
# Case tickets made ahead of time (one Argon2id run each, on a low-priority thread, kept only in
# memory), so a burst of people starting the form at once is served without waiting.
ready_references = 64
"""
