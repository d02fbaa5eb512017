"""The sealed form's page, done in Python for the end-to-end tests: what app.js does, call by call.

It opens the Mini App through the sandbox (signed launch data, as Telegram gives it), then seals
with crypto.envelope.seal_body (the page's seal.js builds the same bytes: tests/js/ checks both
against one set of vectors) and calls the bot's /form/api/* endpoints over real HTTP.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from nacl.public import PublicKey
from nacl.signing import VerifyKey

from crypto.envelope import Kind, seal_body
from crypto.replykey import reply_public_key
from tests.bot.harness import Person, wait_until


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text)


@dataclass
class Page:
    """One opening of the sealed form in a person's chat."""

    person: Person
    base: str
    init_data: str
    language: str = "en"

    @classmethod
    def open(cls, person: Person, bot_port: int, language: str = "en") -> Page:
        """Press the /start message's web_app button in the sandbox and take the launch it signs."""
        def button() -> tuple[int, str] | None:
            for message in reversed(person.bot_messages()):
                for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
                    for b in row:
                        if "web_app" in b:
                            return int(message["message_id"]), str(b["web_app"]["url"])
            return None

        message_id, url = wait_until(button, 10, what="a web_app button")
        reply = person.sandbox.client.post(f"{person.sandbox.api}/chats/{person.chat_id}/webapp",
                                           json={"source": "inline", "message_id": message_id, "url": url})
        reply.raise_for_status()
        launch = reply.json()
        assert urlsplit(url).path == "/form/"
        fragment = dict(parse_qsl(urlsplit(launch["url"]).fragment))
        assert fragment["tgWebAppData"] == launch["init_data"]
        return cls(person, f"http://127.0.0.1:{bot_port}/form", launch["init_data"], language)

    def call(self, name: str, **body: Any) -> httpx.Response:
        body.setdefault("init_data", self.init_data)
        body.setdefault("language", self.language)
        return httpx.post(f"{self.base}/api/{name}", json=body, timeout=30)

    def ok(self, name: str, **body: Any) -> dict[str, Any]:
        reply = self.call(name, **body)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    def request_body(self, begun: dict[str, Any], answers: dict[str, str], queue: str | None = None,
                     recipients: list[str] | None = None, kind: Kind = Kind.REQUEST,
                     case_id: str | None = None) -> bytes:
        """The sealed request the page builds from `begin`'s answer (recipients: that queue's keys)."""
        queue = queue or begun["default_queue"]
        keys = recipients if recipients is not None else [r["key"] for r in begun["queues"][queue]]
        reply_key = begun["reply_key"] or b64(bytes(reply_public_key(begun["reference"], begun["case_id"])))
        payload = json.dumps({
            "v": 1, "answers": answers, "language": begun["language"], "channel": begun["channel"],
            "submitted_hour": begun["submitted_hour"], "reply_handle": begun["reply_handle"],
            "reply_tag": begun["reply_tag"], "reply_key": reply_key,
        }, ensure_ascii=False).encode("utf-8")
        return seal_body(payload, kind=kind, case_id=case_id or begun["case_id"], queue=queue,
                         recipients=[PublicKey(unb64(k)) for k in keys], signer_key=VerifyKey(unb64(begun["signer"])))

    def submit(self, answers: dict[str, str], alert: dict[str, str] | None = None) -> dict[str, Any]:
        """begin, seal, submit: the whole Send."""
        begun = self.ok("begin")
        body = self.request_body(begun, answers)
        return self.ok("submit", case_id=begun["case_id"], queue=begun["default_queue"], envelope=b64(body),
                       alert=alert or {})

    def follow_up_body(self, found: dict[str, Any], text: str) -> bytes:
        payload = json.dumps({"v": 1, "text": text, "language": self.language}).encode("utf-8")
        return seal_body(payload, kind=Kind.FOLLOW_UP, case_id=found["case_id"], queue=found["queue"],
                         recipients=[PublicKey(unb64(r["key"])) for r in found["recipients"]],
                         signer_key=VerifyKey(unb64(found["signer"])))
