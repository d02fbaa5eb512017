"""Collects the sandbox's whole event log while a test runs (the log itself keeps only the newest 10 000)."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Self

import httpx

from tests.bot.harness import Sandbox


class EventCollector:
    """Polls /events?since=N every 100 ms; fails loudly if the sandbox dropped events before they were read."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.api = sandbox.api
        self.events: list[dict[str, Any]] = []
        self.lost = False
        self._last = int(httpx.get(f"{self.api}/events", params={"since": 10**12}, timeout=10).json()["last_seq"])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)

    def _poll(self, client: httpx.Client) -> None:
        found = client.get(f"{self.api}/events", params={"since": self._last}).json()["events"]
        if found and found[0]["seq"] != self._last + 1:
            self.lost = True
        if found:
            self.events.extend(found)
            self._last = found[-1]["seq"]

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.wait(0.1):
                self._poll(client)
            self._poll(client)

    def of(self, kind: str) -> list[dict[str, Any]]:
        """Events of one kind, in order."""
        return [e for e in self.events if e["kind"] == kind]

    def unanswered_429s(self) -> list[dict[str, Any]]:
        """Each 429 after which the bot never again succeeded in sending or editing in that chat."""
        done = {"sendMessage": "message_sent", "editMessageText": "message_edited"}
        return [limited for limited in self.of("rate_limited")
                if not any(e["kind"] == done.get(limited["method"]) and e.get("chat_id") == limited["chat_id"]
                           and e["seq"] > limited["seq"] for e in self.events)]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(10)
