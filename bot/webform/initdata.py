"""Telegram's Mini App initData: checked with the bot token before anything the page sends is used.

Telegram signs the launch data it gives a Mini App with HMAC-SHA256 under a key derived from the
bot token (https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app).
Telegram mandates HMAC-SHA256 and PyNaCl offers only HMAC-SHA512-256, so this one module uses the
standard library's hmac for exactly that check (tests/test_crypto_policy.py allows it here only).
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl

from bot.errors import BotError

#: Launch data older than this is refused: a leaked initData string stops working within the hour.
MAX_AGE_SECONDS = 3600
#: A little clock skew between Telegram and this server is tolerated.
MAX_SKEW_SECONDS = 60
MAX_LENGTH = 4096
_KEY_PERSON = b"WebAppData"


class InitDataRefused(BotError, PermissionError):
    """The page's initData is missing, malformed, not signed with this bot's token, or stale."""


@dataclass(frozen=True)
class Launch:
    """What verified launch data tells us: the person's private chat, their language, when it was signed."""

    chat_id: int
    language_code: str | None
    auth_date: int


def secret_key(token: str) -> bytes:
    """HMAC-SHA256 of the bot token under the key "WebAppData" (Telegram's rule)."""
    return hmac.new(_KEY_PERSON, token.encode("ascii"), "sha256").digest()


def sign(fields: dict[str, str], token: str) -> str:
    """The `hash` Telegram puts beside `fields` (for the sandbox and tests: what a real client receives)."""
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    return hmac.new(secret_key(token), check.encode("utf-8"), "sha256").hexdigest()


def verify(init_data: str, token: str, now: int) -> Launch:
    """Check initData's hash (constant time) and freshness; the chat is the signed user's private chat.

    Raises InitDataRefused without saying more than which rule failed (never a value from it).
    """
    if not init_data or len(init_data) > MAX_LENGTH:
        raise InitDataRefused("initData is missing or too long")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError as err:
        raise InitDataRefused("initData is not a query string") from err
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InitDataRefused("initData repeats a field")
    given = fields.pop("hash", "")
    if not hmac.compare_digest(sign(fields, token), given):
        raise InitDataRefused("initData is not signed with this bot's token")
    try:
        auth_date = int(fields.get("auth_date", ""))
        user = json.loads(fields.get("user", ""))
    except ValueError as err:
        raise InitDataRefused("initData lacks auth_date or user") from err
    if not now - MAX_AGE_SECONDS <= auth_date <= now + MAX_SKEW_SECONDS:
        raise InitDataRefused("initData is stale")
    if fields.get("chat_type", "sender") not in ("sender", "private"):
        raise InitDataRefused("the form opens only in a private chat with the bot")
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        raise InitDataRefused("initData has no user id")
    language = user.get("language_code")
    return Launch(user_id, language if isinstance(language, str) else None, auth_date)
