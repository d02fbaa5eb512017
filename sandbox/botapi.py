"""The Bot API endpoint /bot<token>/<method>: dispatch and Telegram's response shape."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox import botconfig, menubutton, messaging, updates
from sandbox.errors import NOT_FOUND, BotApiError
from sandbox.params import Params, read_params
from sandbox.state import BotWorld, Sandbox

Handler = Callable[[Sandbox, BotWorld, Params], Awaitable[object]]

_HANDLERS: dict[str, Handler] = {
    "getMe": botconfig.get_me,
    "getUpdates": updates.get_updates,
    "setWebhook": updates.set_webhook,
    "deleteWebhook": updates.delete_webhook,
    "getWebhookInfo": updates.get_webhook_info,
    "sendMessage": messaging.send_message,
    "editMessageText": messaging.edit_message_text,
    "editMessageReplyMarkup": messaging.edit_message_reply_markup,
    "deleteMessage": messaging.delete_message,
    "deleteMessages": messaging.delete_messages,
    "answerCallbackQuery": messaging.answer_callback_query,
    "sendChatAction": messaging.send_chat_action,
    "setMyCommands": botconfig.set_my_commands,
    "getMyCommands": botconfig.get_my_commands,
    "deleteMyCommands": botconfig.delete_my_commands,
    "setMyName": botconfig.set_my_name,
    "getMyName": botconfig.get_my_name,
    "setMyDescription": botconfig.set_my_description,
    "getMyDescription": botconfig.get_my_description,
    "setMyShortDescription": botconfig.set_my_short_description,
    "getMyShortDescription": botconfig.get_my_short_description,
    "setChatMenuButton": menubutton.set_chat_menu_button,
    "getChatMenuButton": menubutton.get_chat_menu_button,
    "close": botconfig.close,
    "logOut": botconfig.log_out,
}
# Telegram matches method names case-insensitively.
METHODS: dict[str, tuple[str, Handler]] = {
    name.lower(): (name, handler) for name, handler in _HANDLERS.items()
}

logger = logging.getLogger(__name__)


def sandbox_of(request: Request) -> Sandbox:
    """Return the Sandbox the app was created with."""
    sandbox = request.app.state.sandbox
    if not isinstance(sandbox, Sandbox):
        raise TypeError("app.state.sandbox is not a Sandbox")
    return sandbox


def _chat_of(params: Params) -> int | None:
    """The call's chat id, if it names one the sandbox could hold."""
    try:
        return params.integer("chat_id")
    except BotApiError:
        return None


async def _hold_answer(sandbox: Sandbox, world: BotWorld, method: str, params: Params) -> None:
    """The call has taken effect; if a delay was set for it (control API /delays), answer only after it.

    A client that gives up or dies meanwhile never learns the result (a message id,
    say), as with a Telegram answer lost on the way back.
    """
    chat_id = _chat_of(params)
    seconds = world.take_answer_delay(method, chat_id)
    if seconds is None:
        return
    sandbox.events.record("answer_delayed", world.id, method=method, chat_id=chat_id, seconds=seconds)
    await asyncio.sleep(seconds)


async def bot_api_endpoint(request: Request) -> Response:
    """Answer one Bot API call with {"ok": true, "result": ...} or Telegram's error JSON."""
    sandbox = sandbox_of(request)
    token = str(request.path_params["token"])
    known = METHODS.get(str(request.path_params["method"]).lower())
    method_name = known[0] if known is not None else "unknown"
    world: BotWorld | None = None
    try:
        world = sandbox.bot_for_token(token)
        if known is None:
            raise NOT_FOUND
        params = await read_params(request)
        result = await known[1](sandbox, world, params)
        await _hold_answer(sandbox, world, method_name, params)
    except BotApiError as err:
        if method_name == "getUpdates" and err.code == 409 and await request.is_disconnected():
            # A poll its client had already abandoned (e.g. a bot stopping): nobody sees this.
            sandbox.events.record("long_poll_abandoned", world.id if world is not None else None)
            return JSONResponse(err.to_json(), status_code=err.code)
        sandbox.events.record(
            "api_error",
            world.id if world is not None else None,
            method=method_name,
            error_code=err.code,
            description=err.description,
        )
        logger.debug("bot api %s failed with %d", method_name, err.code)
        return JSONResponse(err.to_json(), status_code=err.code)
    return JSONResponse({"ok": True, "result": result})
