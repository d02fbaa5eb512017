"""Opening a Mini App as a Telegram client does: signed launch data, the launch URL, sendData."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, urlsplit, urlunsplit

import nacl.utils

from sandbox.errors import ControlError
from sandbox.initdata import sign_init_data, user_json
from sandbox.markup import web_app_urls
from sandbox.menubutton import effective_menu_button
from sandbox.models import Chat, MessageId, Person, StoredMessage, message_to_telegram
from sandbox.state import BotWorld, Sandbox, WebAppLaunch

#: What Telegram Web A reports; the page may check it but should not depend on more.
VERSION = "8.0"
PLATFORM = "weba"
MAX_WEB_APP_DATA_BYTES = 4096
MAX_LAUNCHES = 100
SOURCES = ("inline", "keyboard", "menu")

#: Theme params with Telegram's keys; colours like Telegram's default light and dark themes.
THEMES: dict[str, dict[str, str]] = {
    "light": {
        "bg_color": "#ffffff",
        "text_color": "#000000",
        "hint_color": "#707579",
        "link_color": "#3390ec",
        "button_color": "#3390ec",
        "button_text_color": "#ffffff",
        "secondary_bg_color": "#f4f4f5",
        "header_bg_color": "#ffffff",
        "bottom_bar_bg_color": "#ffffff",
        "accent_text_color": "#3390ec",
        "section_bg_color": "#ffffff",
        "section_header_text_color": "#3390ec",
        "section_separator_color": "#e7e7e7",
        "subtitle_text_color": "#707579",
        "destructive_text_color": "#e53935",
    },
    "dark": {
        "bg_color": "#212121",
        "text_color": "#ffffff",
        "hint_color": "#aaaaaa",
        "link_color": "#8774e1",
        "button_color": "#8774e1",
        "button_text_color": "#ffffff",
        "secondary_bg_color": "#0f0f0f",
        "header_bg_color": "#212121",
        "bottom_bar_bg_color": "#212121",
        "accent_text_color": "#8774e1",
        "section_bg_color": "#212121",
        "section_header_text_color": "#8774e1",
        "section_separator_color": "#111111",
        "subtitle_text_color": "#aaaaaa",
        "destructive_text_color": "#ff595a",
    },
}


def _web_app_user(person: Person) -> dict[str, object]:
    """Return the WebAppUser object of initData's `user` field."""
    user: dict[str, object] = {"id": person.id, "first_name": person.first_name}
    if person.last_name:
        user["last_name"] = person.last_name
    if person.username:
        user["username"] = person.username
    if person.language_code:
        user["language_code"] = person.language_code
    user["allows_write_to_pm"] = True
    return user


def _query_id() -> str:
    """Return a fresh opaque query id, shaped like Telegram's (24 base64url characters)."""
    return base64.urlsafe_b64encode(nacl.utils.random(18)).decode("ascii")


def _target(world: BotWorld, chat: Chat, source: str, message_id: int | None, url: str | None,
            text: str | None) -> tuple[str, str | None]:
    """Return the Mini App URL the person's tap opens (and the reply button's text), or raise."""
    if source == "inline":
        message = chat.messages.get(MessageId(message_id or 0))
        if message is None or not message.from_bot:
            raise ControlError(404, "no such bot message in this chat")
        if url is None or url not in web_app_urls(message.reply_markup):
            raise ControlError(400, "that message has no web_app button with this url")
        return url, None
    if source == "keyboard":
        target = chat.reply_keyboard_web_apps.get(text or "")
        if target is None:
            raise ControlError(400, "the chat's reply keyboard has no web_app button with this text")
        return target, text
    button = effective_menu_button(world, chat.id)
    web_app = button.get("web_app")
    if button.get("type") != "web_app" or not isinstance(web_app, dict):
        raise ControlError(400, "this chat's menu button does not open a Mini App")
    return str(web_app["url"]), None


def launch_url(url: str, init_data: str, theme: dict[str, str]) -> str:
    """Return the URL the client loads: the Mini App URL with the launch parameters in its fragment.

    The Mini App URL's own fragment, if any, is replaced (the sandbox's choice; keep it out).
    """
    fragment = "&".join(
        f"{name}={quote(value, safe='')}"
        for name, value in (
            ("tgWebAppData", init_data),
            ("tgWebAppVersion", VERSION),
            ("tgWebAppPlatform", PLATFORM),
            ("tgWebAppThemeParams", json.dumps(theme, separators=(",", ":"))),
        )
    )
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, fragment))


def open_web_app(sandbox: Sandbox, world: BotWorld, chat: Chat, person: Person, *, source: str,
                 message_id: int | None, url: str | None, text: str | None, theme: str) -> dict[str, object]:
    """The person taps a web_app button or the menu button: sign initData and return the launch."""
    if source not in SOURCES:
        raise ControlError(400, f"source must be one of {', '.join(SOURCES)}")
    if theme not in THEMES:
        raise ControlError(400, "theme must be light or dark")
    if chat.is_group:
        raise ControlError(400, "Mini App buttons work only in private chats")
    if chat.blocked:
        raise ControlError(409, "this person has blocked the bot; unblock it first")
    target, button_text = _target(world, chat, source, message_id, url, text)
    fields: dict[str, str] = {}
    if source != "keyboard":
        # Keyboard-button Mini Apps answer through sendData, the others through answerWebAppQuery.
        fields["query_id"] = _query_id()
    fields["user"] = user_json(_web_app_user(person))
    if source == "inline":
        fields["chat_instance"] = chat.instance
        fields["chat_type"] = "private"
    # The sandbox clock drives auth_date, so a test can make launch data go stale.
    fields["auth_date"] = str(sandbox.clock.unix())
    init_data = sign_init_data(fields, world.identity.token, world.id, sandbox.web_app_key)
    launch = WebAppLaunch(id=_query_id(), chat_id=chat.id, user_id=person.id, source=source,
                          button_text=button_text)
    world.launches[launch.id] = launch
    while len(world.launches) > MAX_LAUNCHES:
        world.launches.pop(next(iter(world.launches)))
    sandbox.events.record("web_app_opened", world.id, chat_id=chat.id, source=source, message_id=message_id)
    return {
        "launch_id": launch.id,
        "url": launch_url(target, init_data, THEMES[theme]),
        "web_app_url": target,
        "init_data": init_data,
        "version": VERSION,
        "platform": PLATFORM,
        "theme_params": THEMES[theme],
        "can_send_data": source == "keyboard",
    }


def send_data(sandbox: Sandbox, world: BotWorld, chat: Chat, launch_id: str, data: str) -> StoredMessage:
    """Telegram.WebApp.sendData: a `web_app_data` service message from the person to the bot.

    Only a Mini App opened from a reply-keyboard button may send, and only once (Telegram then
    closes it). The chat shows a service line; the data goes to the bot in the update and is
    not kept.
    """
    launch = world.launches.get(launch_id)
    if launch is None or launch.chat_id != chat.id:
        raise ControlError(404, "no such Mini App launch in this chat")
    if launch.source != "keyboard" or launch.button_text is None:
        raise ControlError(400, "only a Mini App opened from a keyboard button can send data")
    if launch.data_sent:
        raise ControlError(409, "this Mini App has already sent its data")
    if not 1 <= len(data.encode("utf-8")) <= MAX_WEB_APP_DATA_BYTES:
        raise ControlError(400, f"data must be 1-{MAX_WEB_APP_DATA_BYTES} bytes")
    if chat.blocked:
        raise ControlError(409, "this person has blocked the bot; unblock it first")
    launch.data_sent = True
    message = StoredMessage(
        message_id=chat.allocate_message_id(),
        date=sandbox.clock.unix(),
        sender_id=launch.user_id,
        from_bot=False,
        text=f"Data from the “{launch.button_text}” button was transferred to the bot.",
        service="web_app_data",
    )
    chat.messages[message.message_id] = message
    chat.touch()
    payload = message_to_telegram(message, chat, world.people, world.identity)
    payload["web_app_data"] = {"data": data, "button_text": launch.button_text}
    update_id = world.enqueue("message", payload)
    sandbox.events.record("web_app_data_sent", world.id, chat_id=chat.id, message_id=message.message_id,
                          update_id=update_id)
    return message
