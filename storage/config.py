"""config.toml: the server's settings, every key with a default and a check."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from crypto.envelope import valid_queue
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
    """How long closed cases are kept."""

    closed_case_days: int = 90


@dataclass(frozen=True)
class RosterConfig:
    """Validity periods used when an admin signs the roster."""

    valid_days: int = 180
    member_days: int = 365


@dataclass(frozen=True)
class TelegramConfig:
    """Where the Bot API is."""

    api_base_url: str = "https://api.telegram.org/bot"
    mode: str = "polling"
    webhook_url: str = ""


@dataclass(frozen=True)
class StaffApiConfig:
    """Where the staff API listens."""

    listen: str = "127.0.0.1:8765"


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
}
_MAXIMUMS: dict[str, int] = {
    "delete_after_seconds": 47 * 3600,
    "delete_after_submit_seconds": 47 * 3600,
    "valid_days": 3650,
    "member_days": 3650,
    "closed_case_days": 3650,
}  # Telegram deletes only within 48 h


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
        if expected is str and not isinstance(value, str):
            raise ConfigInvalid(f"config.toml: {name}.{key} must be a string")
        if expected is int and not _MINIMUMS.get(key, 0) <= value <= _MAXIMUMS.get(key, 10**9):
            raise ConfigInvalid(
                f"config.toml: {name}.{key} = {value} is out of range "
                f"({_MINIMUMS.get(key, 0)}..{_MAXIMUMS.get(key, 10**9)})"
            )
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


def parse_config(text: str) -> Config:
    """Parse and check config text; raises ConfigInvalid with the key at fault."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigInvalid(f"config.toml is not valid TOML: {err}") from err
    sections = {f.name: f.default_factory for f in fields(Config) if f.name != "routing"}  # type: ignore[misc]
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
    if not config.telegram.api_base_url.startswith(("https://", "http://")):
        raise ConfigInvalid("config.toml: telegram.api_base_url must be an http(s) URL")
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
# times cannot be matched precisely against a chat's.
time_granularity_seconds = 600

[retention]
# Closed cases are purged after this many days.
closed_case_days = 90

[roster]
# How long a newly signed roster, and a newly added member, stay valid.
valid_days = 180
member_days = 365

[telegram]
# Bot API base URL: Telegram, a self-hosted Bot API server, or the local sandbox.
# The token is never here: it is read from secrets/bot_token or WAYSTATION_BOT_TOKEN.
api_base_url = "https://api.telegram.org/bot"
# "polling" (default) or "webhook" (then webhook_url is the public https URL that reaches
# this server's /telegram/webhook through the reverse proxy).
mode = "polling"
webhook_url = ""

# Routing: the first rule whose conditions all match picks the queue; otherwise queues.default.
# Conditions: languages (the person's language), countries (their answer, any case),
# help (option ids of the "help" question).
# [[routing]]
# queue = "ru-speaking"
# languages = ["ru", "uk"]

[staff_api]
listen = "127.0.0.1:8765"
"""
