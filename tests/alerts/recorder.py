"""Every version of every message a set of sandbox chats ever showed, polled while a test runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

import httpx

from tests.bot.harness import Sandbox


class Recorder:
    """Polls chats every 20 ms and keeps each (message id, text, buttons) it sees, edits included."""

    def __init__(self, sandbox: Sandbox, chat_ids: Iterable[int]) -> None:
        self.api = sandbox.api
        self.chat_ids = list(chat_ids)
        self.seen: dict[int, set[str]] = {c: set() for c in self.chat_ids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)

    def _poll(self, client: httpx.Client) -> None:
        for chat_id in self.chat_ids:
            for message in client.get(f"{self.api}/chats/{chat_id}/messages").json()["messages"]:
                self.seen[chat_id].add(json.dumps([message["message_id"], message["text"], message["reply_markup"]],
                                                  ensure_ascii=False))

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.wait(0.02):
                self._poll(client)
            self._poll(client)

    def everything(self) -> str:
        """All versions seen, as one text to search."""
        return "\n".join(v for versions in self.seen.values() for v in sorted(versions))

    def versions(self, chat_id: int) -> list[list[Any]]:
        """Each version seen in one chat: [message id, text, reply markup]."""
        return sorted(json.loads(v) for v in self.seen[chat_id])

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(10)
