"""Telegram's Mini App launch data (`initData`), signed as a Telegram client's server signs it.

Telegram's scheme ("Validating data received via the Mini App", core.telegram.org/bots/webapps):
the fields, sorted by key, as `key=value` lines joined by "\\n" (the data-check-string, every field
but `hash`); secret_key = HMAC-SHA256(key="WebAppData", message=bot_token);
hash = hex(HMAC-SHA256(key=secret_key, message=data-check-string)). The third-party `signature`
is Ed25519 over "<bot_id>:WebAppData\\n" + the data-check-string without `hash` and `signature`,
base64url without padding; the sandbox signs with its own key (Telegram's is not ours to have).
"""

from __future__ import annotations

import base64

# HMAC-SHA256 is what Telegram mandates for initData and PyNaCl has no HMAC; this module is the
# one place the sandbox uses the standard library's hmac (tests/test_crypto_policy.py allows it).
import hmac
import json
from collections.abc import Mapping
from urllib.parse import quote

from nacl.signing import SigningKey

WEB_APP_DATA = b"WebAppData"


def data_check_string(fields: Mapping[str, str]) -> str:
    """Return Telegram's data-check-string of the fields (the caller leaves out what it must)."""
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields))


def secret_key(bot_token: str) -> bytes:
    """Return HMAC-SHA256 keyed with "WebAppData" over the bot token."""
    return hmac.new(WEB_APP_DATA, bot_token.encode("utf-8"), "sha256").digest()


def third_party_signature(fields: Mapping[str, str], bot_id: int, key: SigningKey) -> str:
    """Return the Ed25519 `signature` field: base64url, no padding."""
    message = f"{bot_id}:WebAppData\n{data_check_string(fields)}".encode()
    signed = key.sign(message).signature
    return base64.urlsafe_b64encode(signed).decode("ascii").rstrip("=")


def sign_init_data(fields: Mapping[str, str], bot_token: str, bot_id: int, key: SigningKey) -> str:
    """Return the `initData` query string: the fields plus `signature` and `hash`, URL-encoded."""
    signed = dict(fields)
    signed["signature"] = third_party_signature(fields, bot_id, key)
    # The hash covers every field but itself, `signature` included, as Telegram's does.
    signed["hash"] = hmac.new(
        secret_key(bot_token), data_check_string(signed).encode("utf-8"), "sha256"
    ).hexdigest()
    return "&".join(f"{name}={quote(value, safe='')}" for name, value in signed.items())


def user_json(user: Mapping[str, object]) -> str:
    """Return the `user` field: compact JSON, non-ASCII kept as UTF-8, as Telegram sends it."""
    return json.dumps(dict(user), ensure_ascii=False, separators=(",", ":"))
