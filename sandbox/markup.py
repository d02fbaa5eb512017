"""Checking reply_markup the way Telegram does, for the keyboards the sandbox shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sandbox.errors import bad_request

MAX_CALLBACK_DATA_BYTES = 64
MAX_BUTTONS = 100
_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "web_app",
    "callback_game",
    "pay",
)


@dataclass(frozen=True)
class Markup:
    """A parsed reply_markup: an inline keyboard for the message, or a chat keyboard change."""

    inline: dict[str, object] | None = None
    keyboard: list[list[str]] | None = None
    remove_keyboard: bool = False


def parse_markup(raw: object) -> Markup:
    """Validate a decoded reply_markup and return what it asks for."""
    if raw is None:
        return Markup()
    if not isinstance(raw, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in raw:
        return Markup(inline={"inline_keyboard": _inline_rows(raw["inline_keyboard"])})
    if "keyboard" in raw:
        return Markup(keyboard=_reply_rows(raw["keyboard"]))
    if raw.get("remove_keyboard") is True:
        return Markup(remove_keyboard=True)
    if raw.get("force_reply") is True:
        return Markup()
    raise bad_request("can't parse reply keyboard markup JSON object")


def parse_inline_markup(raw: object) -> dict[str, object] | None:
    """Validate a reply_markup that must be an inline keyboard (edits)."""
    markup = parse_markup(raw)
    if markup.keyboard is not None or markup.remove_keyboard:
        raise bad_request("inline keyboard expected")
    return markup.inline


def _inline_rows(rows: object) -> list[list[dict[str, object]]]:
    """Validate the rows of an inline keyboard."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    checked: list[list[dict[str, object]]] = []
    count = 0
    for row in rows:
        checked_row: list[dict[str, object]] = []
        for button in row:
            checked_row.append(_inline_button(button))
            count += 1
        if checked_row:
            checked.append(checked_row)
    if count > MAX_BUTTONS:
        raise bad_request("reply markup is too long")
    return checked


def _inline_button(button: object) -> dict[str, object]:
    """Validate one inline button: non-empty text and exactly one action."""
    if not isinstance(button, dict):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    text = button.get("text")
    if not isinstance(text, str) or not text:
        raise bad_request("can't parse inline keyboard button: Text must be non-empty")
    actions = [name for name in _BUTTON_ACTIONS if name in button]
    if len(actions) != 1:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    data = button.get("callback_data")
    if "callback_data" in button:
        if (
            not isinstance(data, str)
            or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
        ):
            raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if "url" in button and (not isinstance(url, str) or not url):
        raise bad_request("BUTTON_URL_INVALID")
    return {str(key): value for key, value in button.items()}


def _reply_rows(rows: object) -> list[list[str]]:
    """Validate a reply keyboard and return the text of its buttons."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays')
    checked: list[list[str]] = []
    for row in rows:
        texts: list[str] = []
        for button in row:
            text = button.get("text") if isinstance(button, dict) else button
            if not isinstance(text, str) or not text:
                raise bad_request("can't parse keyboard button: Text must be non-empty")
            texts.append(text)
        if texts:
            checked.append(texts)
    return checked


def has_callback_button(inline: Mapping[str, object] | None, data: str) -> bool:
    """Tell whether an inline keyboard has a button carrying this callback_data."""
    if inline is None:
        return False
    rows = inline.get("inline_keyboard")
    if not isinstance(rows, list):
        return False
    return any(
        isinstance(button, dict) and button.get("callback_data") == data
        for row in rows
        if isinstance(row, list)
        for button in row
    )
