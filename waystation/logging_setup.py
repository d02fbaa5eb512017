"""Structured logging: text for people, one JSON object per line for collectors, secrets redacted.

What a log line may hold: what happened, what failed and what to do, counts and case ids.
Never message text, names, usernames or chat ids: the code that logs is written that way
(docs/operations.md). `RedactingFilter` is only the last line of defence behind that rule:
it blanks anything shaped like a bot token (libraries put the token in request URLs) and
any long run of digits (chat and user ids, people's case references, phone numbers).
A logged exception, ours or a library's, is written as its type and code frames only
(storage.failures): its message and the traceback's source lines could quote a person.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import TextIO

from storage.config import Config
from storage.failures import describe_error

# Not after `.py:`: `bot/app.py:73:a_long_function_name` is a code frame (storage.failures), not a token.
TOKEN_PATTERN = re.compile(r"(?<!\d)(?<!\.py:)\d+:[A-Za-z0-9_-]{30,}")
# Six or more digits, alone or grouped by single spaces or dashes (references are 4-3-3-3-3).
DIGITS_PATTERN = re.compile(r"\d(?:[ -]?\d){5,}")
TOKEN_MARK = "[redacted-token]"
DIGITS_MARK = "[redacted-number]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log request URLs (with the token in them) or update contents at INFO or below.
QUIET_LIBRARIES = ("httpx", "httpcore", "apscheduler", "telegram", "uvicorn.access")
_HANDLER_MARK = "_waystation_handler"


def redact(text: str) -> str:
    """`text` with anything token-shaped or long-number-shaped blanked out."""
    return DIGITS_PATTERN.sub(DIGITS_MARK, TOKEN_PATTERN.sub(TOKEN_MARK, text))


class RedactingFilter(logging.Filter):
    """Rewrites every record's message through `redact`, and its exception as type and frames; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = describe_error(record.exc_info[1])
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the error, if any). Nothing else."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, str] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[1] is not None:
            if not record.exc_text:  # the filter has already written it (type and frames, redacted)
                record.exc_text = redact(describe_error(record.exc_info[1]))
            entry["error"] = type(record.exc_info[1]).__name__
        if record.exc_text:
            entry["traceback"] = record.exc_text
        # json.dumps escapes newlines, so one record is always exactly one line.
        return json.dumps(entry, ensure_ascii=False)


def make_handler(fmt: str, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler with the chosen format and the redacting filter."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter())
    setattr(handler, _HANDLER_MARK, True)
    return handler


def configure_logging(config: Config | None = None, stream: TextIO | None = None) -> logging.Handler:
    """Set up the root logger from config.toml's [logging] section; safe to call more than once.

    Replaces handlers installed earlier (ours or logging.basicConfig's), so each record is written once.
    """
    fmt = config.logging.format if config is not None else "text"
    level = config.logging.level if config is not None else "info"
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = make_handler(fmt, stream)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.captureWarnings(True)
    return handler
