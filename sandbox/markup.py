"""Checking reply_markup the way Telegram does, for the keyboards the sandbox shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sandbox.errors import bad_request

MAX_CALLBACK_DATA_BYTES = 64
MAX_BUTTONS = 100
MAX_WEB_APP_URL = 2048
#: SANDBOX ALLOWANCE, not Telegram's rule: Telegram accepts only https:// Mini App URLs. The
#: sandbox also accepts plain http:// to these loopback hosts (any port), because tests and
#: `waystation demo` serve the Mini App over local HTTP. Every other http:// URL is refused as
#: Telegram refuses it, so a bot that works here with https works in Telegram too.
LOCAL_HTTP_WEB_APP_HOSTS = frozenset({"127.0.0.1", "localhost"})
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
    #: Reply-keyboard buttons that open a Mini App: button text -> web_app URL.
    keyboard_web_apps: dict[str, str] = field(default_factory=dict)

    @property
    def has_web_app(self) -> bool:
        """Tell whether any button opens a Mini App (allowed in private chats only)."""
        return bool(self.keyboard_web_apps) or bool(web_app_urls(self.inline))


def web_app_url(raw: object, where: str) -> str:
    """Return a WebAppInfo's URL, or raise Telegram's 400 naming `where` the button sits.

    https only, as on Telegram; plus the sandbox's local-http allowance (LOCAL_HTTP_WEB_APP_HOSTS).
    """
    if not isinstance(raw, dict):
        raise bad_request(f"can't parse {where}: Field \"web_app\" must be of type Object")
    url = raw.get("url")
    if not isinstance(url, str):
        raise bad_request(f"can't parse {where}: Field \"url\" must be of type String")
    problem = _web_app_url_problem(url)
    if problem is not None:
        raise bad_request(f"{where} Web App URL '{url}' is invalid: {problem}")
    return url


def _web_app_url_problem(url: str) -> str | None:
    """Say why Telegram (or the sandbox's allowance) refuses this Mini App URL; None if it is fine."""
    if not url or len(url) > MAX_WEB_APP_URL or any(ord(char) <= 32 for char in url):
        return "Wrong HTTP URL"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 -- a malformed port raises here
    except ValueError:
        return "Wrong HTTP URL"
    if not host or parts.username is not None or parts.password is not None:
        return "Wrong HTTP URL"
    scheme = parts.scheme.lower()
    if scheme == "https":
        return None
    if scheme == "http" and host.lower() in LOCAL_HTTP_WEB_APP_HOSTS:
        return None
    return "Only HTTPS links are allowed"


def web_app_urls(inline: Mapping[str, object] | None) -> list[str]:
    """Return the URLs of an inline keyboard's web_app buttons."""
    return [
        str(url)
        for button in _buttons(inline)
        if isinstance(web_app := button.get("web_app"), dict) and isinstance(url := web_app.get("url"), str)
    ]


def parse_markup(raw: object) -> Markup:
    """Validate a decoded reply_markup and return what it asks for."""
    if raw is None:
        return Markup()
    if not isinstance(raw, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in raw:
        return Markup(inline={"inline_keyboard": _inline_rows(raw["inline_keyboard"])})
    if "keyboard" in raw:
        web_apps: dict[str, str] = {}
        return Markup(keyboard=_reply_rows(raw["keyboard"], web_apps), keyboard_web_apps=web_apps)
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
    if "web_app" in button:
        # Keep exactly {"url": ...}: what the page and the launch check compare against.
        return {**{str(key): value for key, value in button.items()},
                "web_app": {"url": web_app_url(button["web_app"], "inline keyboard button")}}
    return {str(key): value for key, value in button.items()}


def _reply_rows(rows: object, web_apps: dict[str, str]) -> list[list[str]]:
    """Validate a reply keyboard and return the text of its buttons (web_app ones into web_apps)."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays')
    checked: list[list[str]] = []
    for row in rows:
        texts: list[str] = []
        for button in row:
            text = button.get("text") if isinstance(button, dict) else button
            if not isinstance(text, str) or not text:
                raise bad_request("can't parse keyboard button: Text must be non-empty")
            if isinstance(button, dict) and "web_app" in button:
                web_apps[text] = web_app_url(button["web_app"], "keyboard button")
            texts.append(text)
        if texts:
            checked.append(texts)
    return checked


def _buttons(inline: Mapping[str, object] | None) -> list[dict[str, object]]:
    """Return every button of an inline keyboard, row by row."""
    rows = inline.get("inline_keyboard") if inline is not None else None
    if not isinstance(rows, list):
        return []
    return [button for row in rows if isinstance(row, list) for button in row if isinstance(button, dict)]


def has_callback_button(inline: Mapping[str, object] | None, data: str) -> bool:
    """Tell whether an inline keyboard has a button carrying this callback_data."""
    return any(button.get("callback_data") == data for button in _buttons(inline))
