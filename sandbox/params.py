"""Bot API parameters from a query string, JSON, urlencoded or multipart body."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

from starlette.requests import Request

from sandbox.errors import BotApiError, bad_request

MAX_BODY_BYTES = 1024 * 1024


class Params:
    """Typed access to one call's parameters, whichever way they were encoded."""

    def __init__(self, values: dict[str, object]) -> None:
        self._values = values

    def has(self, name: str) -> bool:
        """Tell whether the parameter was given at all."""
        return name in self._values

    def text(self, name: str) -> str | None:
        """Return a string parameter as sent (never JSON-decoded)."""
        value = self._values.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        if isinstance(value, str):
            return value
        raise bad_request(f'field "{name}" must be of type String')

    def integer(self, name: str) -> int | None:
        """Return an integer parameter, given as a JSON number or a decimal string."""
        value = self._values.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            raise bad_request(f'field "{name}" must be of type Integer')
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad_request(f'field "{name}" must be of type Integer')

    def number(self, name: str) -> float | None:
        """Return a numeric parameter."""
        value = self._values.get(name)
        if value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise bad_request(f'field "{name}" must be of type Number')

    def boolean(self, name: str) -> bool | None:
        """Return a Boolean parameter (true/false/1/0)."""
        value = self._values.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "false", "0"):
            return value.strip().lower() in ("true", "1")
        raise bad_request(f'field "{name}" must be of type Boolean')

    def json(self, name: str) -> object:
        """Return a complex parameter, given as real JSON or a JSON-encoded string."""
        value = self._values.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError as err:
                raise bad_request(f"can't parse {name} JSON object") from err
        return value

    def chat_id(self) -> int:
        """Return the required chat_id; '@username' chats do not exist in the sandbox."""
        value = self._values.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, str) and value.startswith("@"):
            raise bad_request("chat not found")
        try:
            chat_id = self.integer("chat_id")
        except BotApiError as err:
            raise bad_request("chat not found") from err
        if chat_id is None:
            raise bad_request("chat_id is empty")
        return chat_id


async def read_params(request: Request) -> Params:
    """Collect parameters from the query string and whichever body encoding was used."""
    values: dict[str, object] = dict(request.query_params)
    body = await _read_body(request)
    if not body:
        return Params(values)
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        values.update(_json_body(body))
    elif media_type == "application/x-www-form-urlencoded":
        values.update(_urlencoded_body(body))
    elif media_type == "multipart/form-data":
        values.update(_multipart_body(content_type, body))
    return Params(values)


async def _read_body(request: Request) -> bytes:
    """Read the body, refusing more than MAX_BODY_BYTES."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BotApiError(413, "Request Entity Too Large")
        chunks.append(chunk)
    return b"".join(chunks)


def _json_body(body: bytes) -> dict[str, object]:
    """Decode a JSON object body."""
    try:
        decoded = json.loads(body)
    except ValueError as err:
        raise bad_request("can't parse JSON object") from err
    if not isinstance(decoded, dict):
        raise bad_request("can't parse JSON object")
    return {str(key): value for key, value in decoded.items()}


def _urlencoded_body(body: bytes) -> dict[str, object]:
    """Decode an application/x-www-form-urlencoded body."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise bad_request("request body is not valid UTF-8") from err
    return dict(parse_qsl(text, keep_blank_values=True))


def _multipart_body(content_type: str, body: bytes) -> dict[str, object]:
    """Decode the text fields of a multipart/form-data body (uploads are not supported)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise bad_request("can't parse multipart form data")
    values: dict[str, object] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            values[name] = payload.decode(charset)
        except (LookupError, UnicodeDecodeError) as err:
            raise bad_request("can't parse multipart form data") from err
    return values
