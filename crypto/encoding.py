"""Small helpers for the text forms of keys: base64 and strict JSON objects."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from crypto.errors import CryptoError


def b64(data: bytes) -> str:
    """Encode bytes as standard padded base64 text."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: object, size: int | None, what: str, error: type[CryptoError]) -> bytes:
    """Decode base64 text, insisting on canonical form and, if given, an exact size."""
    if not isinstance(text, str):
        raise error(f"{what} must be base64 text")
    try:
        ascii_text = text.encode("ascii")
        # What base64.b64decode(validate=True) does, without its wrapper (listings decode thousands).
        data = binascii.a2b_base64(ascii_text, strict_mode=True)
    except (binascii.Error, UnicodeEncodeError) as err:
        raise error(f"{what} is not valid base64") from err
    if binascii.b2a_base64(data, newline=False) != ascii_text:
        raise error(f"{what} is not canonical base64")
    if size is not None and len(data) != size:
        raise error(f"{what} must be {size} bytes, not {len(data)}")
    return data


def load_object(data: bytes, what: str, error: type[CryptoError]) -> dict[str, Any]:
    """Parse a UTF-8 JSON object, turning every parse failure into `error`."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise error(f"{what} is not UTF-8 JSON") from err
    if not isinstance(obj, dict):
        raise error(f"{what} must be a JSON object")
    return obj


def dump_object(obj: dict[str, Any]) -> bytes:
    """Serialise a JSON object canonically (sorted keys, no spaces)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def expect(obj: dict[str, Any], key: str, kind: type, what: str, error: type[CryptoError]) -> Any:
    """Return obj[key] if present and of the given type, else raise `error`."""
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise error(f"{what}: field '{key}' missing or not {kind.__name__}")
    return value
