"""config.toml: defaults, and a clear ConfigInvalid naming the key at fault for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.config import DEFAULT_CONFIG, Config, load_config, parse_config
from storage.errors import ConfigInvalid
from storage.home import init_home
from storage.server import Server

pytestmark = pytest.mark.timeout(30)


def test_default_config_text_parses_to_the_defaults() -> None:
    assert parse_config(DEFAULT_CONFIG) == Config()
    assert parse_config("") == Config()


def test_values_in_range_are_taken() -> None:
    config = parse_config(
        '[queues]\ndefault = "lgbt-ru"\n'
        "[privacy]\ndelete_after_seconds = 5\ntime_granularity_seconds = 1\n"
        "[retention]\nclosed_case_days = 1\n"
        '[staff_api]\nlisten = "[::1]:9000"\nrequests_per_minute = 1\nunverified_per_minute = 60000\n'
        "[replies]\nexpire_after_days = 365\n"
        "[roster]\ngrace_days = 0\n"
    )
    assert config.replies.expire_after_days == 365
    assert config.roster.grace_days == 0 and Config().roster.grace_days == 30
    assert parse_config("[roster]\ngrace_days = 365\n").roster.grace_days == 365
    assert config.queues.default == "lgbt-ru"
    assert (config.privacy.delete_after_seconds, config.privacy.time_granularity_seconds) == (5, 1)
    assert config.retention.closed_case_days == 1
    assert config.staff_api.listen == "[::1]:9000"
    assert (config.staff_api.requests_per_minute, config.staff_api.unverified_per_minute) == (1, 60_000)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[queue]\ndefault = 'main'\n", "[queue]"),
        ("[privacy]\ndelete_after = 600\n", "privacy.delete_after"),
        ("[roster]\nvalid_days = 1\nmember_dayz = 2\n", "roster.member_dayz"),
        ("[privacy]\ndelete_after_seconds = '600'\n", "privacy.delete_after_seconds"),
        ("[retention]\nclosed_case_days = true\n", "retention.closed_case_days"),
        ("[retention]\nclosed_case_days = 1.5\n", "retention.closed_case_days"),
        ("[queues]\ndefault = 7\n", "queues.default"),
        ("[telegram]\napi_base_url = ['x']\n", "telegram.api_base_url"),
        ("[privacy]\ndelete_after_seconds = 4\n", "privacy.delete_after_seconds"),
        ("[privacy]\ndelete_after_seconds = 172800\n", "privacy.delete_after_seconds"),
        ("[privacy]\ntime_granularity_seconds = 0\n", "privacy.time_granularity_seconds"),
        ("[retention]\nclosed_case_days = -1\n", "retention.closed_case_days"),
        ("[roster]\nvalid_days = 0\n", "roster.valid_days"),
        ("[roster]\ngrace_days = -1\n", "roster.grace_days"),
        ("[roster]\ngrace_days = 366\n", "roster.grace_days"),
        ("[roster]\ngrace_days = '30'\n", "roster.grace_days"),
        ("[replies]\nexpire_after_days = 0\n", "replies.expire_after_days"),
        ("[replies]\nexpire_after_days = 366\n", "replies.expire_after_days"),
        ("[replies]\nexpire_after = 30\n", "replies.expire_after"),
        ("[staff_api]\nlisten = 'localhost'\n", "staff_api.listen"),
        ("[staff_api]\nlisten = ':8765'\n", "staff_api.listen"),
        ("[staff_api]\nlisten = '127.0.0.1:0'\n", "staff_api.listen"),
        ("[staff_api]\nlisten = '127.0.0.1:65536'\n", "staff_api.listen"),
        ("[staff_api]\nlisten = '127.0.0.1:http'\n", "staff_api.listen"),
        ("[staff_api]\nrequests_per_minute = 0\n", "staff_api.requests_per_minute"),
        ("[telegram]\nmax_messages_per_minute_per_chat = 0\n", "telegram.max_messages_per_minute_per_chat"),
        ("[staff_api]\nunverified_per_minute = 60001\n", "staff_api.unverified_per_minute"),
        ("[queues]\ndefault = 'Main Queue'\n", "queues.default"),
        ("[telegram]\napi_base_url = 'ftp://example.org/bot'\n", "telegram.api_base_url"),
        ("queues = 3\n", "[queues]"),
        ("stray = 1\n", "[stray]"),
    ],
)
def test_bad_config_is_refused_naming_the_key(text: str, named: str) -> None:
    with pytest.raises(ConfigInvalid) as caught:
        parse_config(text)
    assert named in str(caught.value)
    assert "\n" not in str(caught.value)


def test_text_that_is_not_toml_is_refused() -> None:
    with pytest.raises(ConfigInvalid, match="not valid TOML"):
        parse_config("[queues\ndefault = \n")


def test_missing_or_unreadable_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigInvalid, match="no config.toml"):
        load_config(tmp_path / "config.toml")
    (tmp_path / "config.toml").write_bytes(b"[queues]\ndefault = '\xff\xfe'\n")
    with pytest.raises(ConfigInvalid):
        load_config(tmp_path / "config.toml")


def test_server_refuses_to_open_with_a_bad_config_before_touching_the_database(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")
    home.config_path.write_text("[privacy]\ndelete_after_seconds = 1\n")
    before = home.db_path.read_bytes()
    with pytest.raises(ConfigInvalid, match="privacy.delete_after_seconds"):
        Server.open(home.root, environ={})
    assert home.db_path.read_bytes() == before
