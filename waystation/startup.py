"""What can stop `waystation bot run` at start, each said in one line: the listener's address, the Bot API.

The address is taken before anything else starts, so a port in use is reported before the bot
says it runs. An unreachable Bot API is waited for (1, 2, 4 ... 60 s between attempts, one log
line each) until it answers or a stop signal comes; a token it refuses stops the bot at once.
Neither the token nor an exception's message is ever written (a refused token's exception
quotes the token).
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import logging
import socket
from collections.abc import Awaitable, Callable

from telegram import Bot
from telegram.error import InvalidToken, RetryAfter, TelegramError, TimedOut

from bot.errors import ListenFailed, TokenRefused
from bot.ratelimit import retry_seconds

log = logging.getLogger("waystation.service")
#: Seconds to wait after each failed attempt to reach the Bot API at start; the last one repeats.
BACKOFF = (1, 2, 4, 8, 16, 32, 60)

_LISTEN_FIXES = {
    errno.EADDRINUSE: "is already in use by another process (another Waystation still running?): stop it "
                      "(find it with 'ss -ltnp sport = :{port}') or set another [staff_api] listen in config.toml",
    errno.EACCES: "needs a privilege this process does not have (ports below 1024): use a port above 1024 in "
                  "[staff_api] listen",
    errno.EADDRNOTAVAIL: "is not an address of this machine: set [staff_api] listen in config.toml to one of its "
                         "addresses (127.0.0.1 for a reverse proxy or Tor on the same machine)",
}


def bind_listener(listen: str) -> socket.socket:
    """A socket bound to `listen` (HOST:PORT), not yet listening; ListenFailed says what to do if it cannot be."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    where = f"the staff API address {listen} ([staff_api] listen in config.toml)"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
    except (OSError, IndexError) as err:
        raise ListenFailed(f"{where} cannot be resolved: set an address of this machine") from err
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as err:
        sock.close()
        fix = _LISTEN_FIXES.get(err.errno or 0, f"could not be taken ({err.strerror or type(err).__name__})")
        raise ListenFailed(f"{where} {fix.format(port=port)}; the bot did not start") from err
    return sock


def _reason(err: TelegramError) -> str:
    """What went wrong, without the exception's message: its type, and the network error under it."""
    if isinstance(err, TimedOut):
        return "timed out"
    cause = err.__cause__
    return f"{type(err).__name__}: {type(cause).__name__}" if cause is not None else type(err).__name__


async def reach_bot_api(bot: Bot, base_url: str, token_source: str,
                        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
    """Initialise `bot` (getMe) once the Bot API answers; TokenRefused if it refuses the token.

    Cancel the task to stop waiting (a stop signal does).
    """
    for attempt in itertools.count(1):
        try:
            await bot.initialize()
        except InvalidToken:
            # Not `from err`: python-telegram-bot's message for it quotes the whole token.
            raise TokenRefused(
                f"the Bot API at {base_url} refused the bot token from {token_source} (HTTP 401 or 404): it was "
                "revoked or mistyped, or telegram.api_base_url is wrong; put the current token from @BotFather "
                "there and start the bot again") from None
        except RetryAfter as err:
            delay = retry_seconds(err)
            log.warning("the Bot API at %s asked to wait (flood control); attempt %d, next in %d s",
                        base_url, attempt, delay)
            await sleep(delay)
            continue
        except TelegramError as err:
            delay = BACKOFF[min(attempt, len(BACKOFF)) - 1]
            log.warning("the Bot API at %s could not be reached (%s); attempt %d, next in %d s",
                        base_url, _reason(err), attempt, delay)
            await sleep(delay)
            continue
        if attempt > 1:
            log.info("the Bot API at %s answers (after %d attempts)", base_url, attempt)
        return
