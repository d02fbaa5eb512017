"""Structured logs: one JSON object per line with fixed fields; tokens and long numbers never get through."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from storage.config import parse_config
from waystation.logging_setup import DIGITS_MARK, TOKEN_MARK, configure_logging, redact

TOKEN = "123456789:" + "AAF1sandboxTOKENforTESTSonly-0123_x"


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _json_logging(stream: io.StringIO) -> None:
    configure_logging(parse_config('[logging]\nformat = "json"\nlevel = "debug"\n'), stream=stream)


def _lines(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_logs_are_one_object_per_line_with_fixed_fields(restore_root: None) -> None:
    stream = io.StringIO()
    _json_logging(stream)
    log = logging.getLogger("waystation.test")
    log.info("intake stored for case %s", "abcd1234efgh5678")
    log.warning("two\nlines in one message")
    log.debug("counts: %d pending", 3)
    raw = stream.getvalue().splitlines()
    assert len(raw) == 3
    records = _lines(stream)
    assert all(set(r) == {"time", "level", "logger", "message"} for r in records)
    assert records[0]["message"] == "intake stored for case abcd1234efgh5678"
    assert records[0]["logger"] == "waystation.test" and records[0]["level"] == "INFO"
    assert records[0]["time"].endswith("Z") and records[0]["time"][4] == "-"
    assert records[1]["message"] == "two\nlines in one message"


def _fail_with(message: str) -> None:
    raise ConnectionError(message)


def test_exceptions_are_logged_as_type_and_frames_never_their_message(restore_root: None) -> None:
    stream = io.StringIO()
    _json_logging(stream)
    try:
        _fail_with(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage chat_id=5550001234 text=Privet failed")
    except ConnectionError:
        logging.getLogger("waystation.test").exception("sending failed; the bot will retry")
    (record,) = _lines(stream)
    assert record["error"] == "ConnectionError"
    text = stream.getvalue()
    assert TOKEN not in text and "5550001234" not in text and "Privet" not in text and "sendMessage" not in text
    where = record["traceback"]
    assert where.startswith("ConnectionError at tests/ops/test_logging.py:")
    assert ":test_exceptions_are_logged_as_type_and_frames_never_their_message > " in where
    assert where.endswith(":_fail_with")
    assert "/work/" not in where and "\n" not in where


def test_text_format_logs_an_exception_as_one_line_of_frames(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging(parse_config(""), stream=stream)
    try:
        try:
            {}["what the person typed"]
        except KeyError as err:
            raise ValueError("answer 'what the person typed' rejected") from err
    except ValueError:
        logging.getLogger("waystation.test").exception("update handling failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "Traceback" not in stream.getvalue()
    assert "what the person typed" not in stream.getvalue()
    assert lines[1].startswith("ValueError at tests/ops/test_logging.py:")
    assert "; caused by KeyError at tests/ops/test_logging.py:" in lines[1]


def test_a_library_exception_is_reduced_to_frames_too(restore_root: None) -> None:
    """PTB, uvicorn and asyncio log with exc_info themselves: the handler's filter covers them."""
    stream = io.StringIO()
    _json_logging(stream)
    try:
        json.loads('{"name": "Amira Secret"')
    except ValueError:
        logging.getLogger("telegram.ext.Updater").error("Exception happened while polling", exc_info=True)
    (record,) = _lines(stream)
    assert "Amira" not in stream.getvalue()
    assert record["error"] == "JSONDecodeError"
    assert record["traceback"].startswith("json.decoder.JSONDecodeError at tests/ops/test_logging.py:")
    assert "json/decoder.py:" in record["traceback"]


def test_code_frames_with_long_names_are_not_mistaken_for_tokens() -> None:
    frame = "bot/conversation.py:120:a_function_name_longer_than_thirty_characters"
    assert redact(frame) == frame
    assert TOKEN_MARK in redact(f"https://api.telegram.org/bot{TOKEN}/getMe")
    assert TOKEN not in redact(f"token:{TOKEN}") and TOKEN.split(":")[1] not in redact(f"token:{TOKEN}")


def test_the_filter_redacts_tokens_and_long_numbers_in_messages_and_arguments(restore_root: None) -> None:
    stream = io.StringIO()
    _json_logging(stream)
    log = logging.getLogger("httpx.fake")
    log.warning("HTTP Request: POST %s", f"https://api.telegram.org/bot{TOKEN}/getUpdates")
    log.warning("chat %d, reference %s", 1234567890, "4821 907 113 552 068")
    text = stream.getvalue()
    assert TOKEN not in text and TOKEN.split(":")[1] not in text
    assert "1234567890" not in text and "4821 907 113 552 068" not in text
    assert text.count(DIGITS_MARK) == 2


def test_text_format_is_the_default_and_is_redacted_too(restore_root: None) -> None:
    stream = io.StringIO()
    configure_logging(parse_config(""), stream=stream)
    logging.getLogger("waystation.test").warning("token %s", TOKEN)
    line = stream.getvalue().strip()
    assert "WARNING waystation.test: token " + TOKEN_MARK in line
    assert not line.startswith("{")


def test_configuring_twice_writes_each_record_once(restore_root: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    _json_logging(first)
    _json_logging(second)
    logging.getLogger("waystation.test").info("once")
    assert first.getvalue() == "" and len(second.getvalue().splitlines()) == 1


def test_libraries_that_log_urls_are_kept_at_warning(restore_root: None) -> None:
    configure_logging(parse_config('[logging]\nlevel = "debug"\n'), stream=io.StringIO())
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING


@pytest.mark.parametrize("text", ["case abcd1234efgh5678 claimed", "listening on 127.0.0.1:8765",
                                  "3 of 42 messages deleted", "retry in 30 s"])
def test_ordinary_operational_text_survives(text: str) -> None:
    assert redact(text) == text
