"""The control API's own rules, the clock, reset, the page's files and the CLI."""

from __future__ import annotations

import socket

import httpx
import pytest
from click.testing import CliRunner

from sandbox.cli import sandbox_command
from sandbox.testing import RunningSandbox


def connect(sandbox: RunningSandbox, token: str) -> None:
    """Let a bot connect by calling getMe."""
    assert httpx.get(f"{sandbox.bot_base_url}{token}/getMe").json()["ok"] is True


def test_chat_calls_need_a_connected_bot(sandbox: RunningSandbox, token: str) -> None:
    with sandbox.control() as control:
        user_id = control.post("/users", json={"first_name": "Early"}).json()["user_id"]
        early = control.post(f"/chats/{user_id}/messages", json={"text": "hi"})
        assert early.status_code == 409
        assert early.json() == {"error": "no bot has connected to this sandbox yet"}
        by_token = control.post(
            f"/chats/{user_id}/messages", params={"bot": token}, json={"text": "hi"}
        )
        assert by_token.status_code == 201
        assert control.get(f"/chats/{user_id}/messages").json()["bot_id"] == 123456789


def test_several_bots_must_be_named(sandbox: RunningSandbox, token: str, other_token: str) -> None:
    connect(sandbox, token)
    connect(sandbox, other_token)
    with sandbox.control() as control:
        user_id = control.post("/users", json={"first_name": "Two"}).json()["user_id"]
        assert control.get(f"/chats/{user_id}/messages").status_code == 409
        named = control.get(f"/chats/{user_id}/messages", params={"bot": "987654321"})
        assert named.status_code == 200 and named.json()["bot_id"] == 987654321
        assert control.get("/chats/1/messages", params={"bot": "5"}).status_code == 404


def test_same_bot_id_with_another_secret_is_unauthorized(
    sandbox: RunningSandbox, token: str
) -> None:
    connect(sandbox, token)
    forged = token.split(":")[0] + ":" + "Z" * 35
    assert httpx.get(f"{sandbox.bot_base_url}{forged}/getMe").status_code == 401


def test_control_rejects_bad_input(sandbox: RunningSandbox, token: str) -> None:
    connect(sandbox, token)
    with sandbox.control() as control:
        assert control.post("/users", json={}).status_code == 400
        assert control.post("/users", json={"first_name": "X", "username": "no"}).status_code == 400
        assert (
            control.post("/users", json={"first_name": "X", "language_code": "??"}).status_code
            == 400
        )
        as_form = control.post("/users", data={"first_name": "X"})
        assert as_form.status_code == 415
        assert (
            control.post(
                "/users", content=b"[]", headers={"content-type": "application/json"}
            ).status_code
            == 400
        )
        assert control.get("/chats/4242/messages").status_code == 404
        assert control.get("/chats/abc/messages").status_code == 404
        user_id = control.post("/users", json={"first_name": "X"}).json()["user_id"]
        assert control.post(f"/chats/{user_id}/messages", json={"text": " "}).status_code == 400
        assert (
            control.post(f"/chats/{user_id}/messages", json={"text": "x" * 4097}).status_code == 400
        )
        assert (
            control.post(
                f"/chats/{user_id}/messages", json={"text": "x", "from_user_id": 1}
            ).status_code
            == 400
        )
        assert (
            control.post(
                f"/chats/{user_id}/callback", json={"message_id": 1, "data": "x"}
            ).status_code
            == 404
        )
        assert control.post("/clock/advance", json={"seconds": -5}).status_code == 400
        assert control.post("/clock/advance", json={"seconds": "soon"}).status_code == 400


def test_clock_and_reset(sandbox: RunningSandbox, token: str) -> None:
    connect(sandbox, token)
    with sandbox.control() as control:
        before = control.get("/clock").json()["now"]
        advanced = control.post("/clock/advance", json={"seconds": 3600}).json()
        assert advanced["offset_seconds"] == 3600.0
        assert advanced["now"] >= before + 3600
        user_id = control.post("/users", json={"first_name": "Gone"}).json()["user_id"]
        control.post(f"/chats/{user_id}/messages", json={"text": "hello"})
        assert control.post("/reset", json={}).json() == {"ok": True}
        assert control.get("/clock").json()["offset_seconds"] == 0.0
        assert control.get("/bots").json() == {"bots": []}
        connect(sandbox, token)
        assert control.get(f"/chats/{user_id}/messages").status_code == 404
        kinds = [e["kind"] for e in control.get("/events").json()["events"]]
        assert kinds == ["reset", "bot_connected"]


def test_events_never_carry_message_text(sandbox: RunningSandbox, token: str) -> None:
    connect(sandbox, token)
    secret = "my sister is at Checkpoint 7"
    with sandbox.control() as control:
        user_id = control.post("/users", json={"first_name": "Nadia"}).json()["user_id"]
        control.post(f"/chats/{user_id}/messages", json={"text": secret})
        httpx.post(
            f"{sandbox.bot_base_url}{token}/sendMessage", json={"chat_id": user_id, "text": secret}
        )
        log = control.get("/events").text
    assert secret not in log and "Nadia" not in log


def test_page_and_static_files_are_served_with_a_strict_policy(sandbox: RunningSandbox) -> None:
    page = httpx.get(sandbox.url)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert "not Telegram" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        asset = httpx.get(f"{sandbox.url}static/{name}")
        assert asset.status_code == 200 and asset.text
    assert "http" not in httpx.get(f"{sandbox.url}static/style.css").text


def test_cli_help_lists_the_options() -> None:
    result = CliRunner().invoke(sandbox_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--port", "--host", "--per-chat-rate", "--per-chat-burst", "--global-rate"):
        assert option in result.output


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["--port", "x"],
        ["--port", "70000"],
        ["--port", "8081", "--per-chat-rate", "-1"],
        ["--port", "8081", "--global-rate", "nan"],
        ["--port", "8081", "--per-chat-burst", "0"],
    ],
)
def test_cli_turns_bad_input_into_one_error_line(arguments: list[str]) -> None:
    result = CliRunner().invoke(sandbox_command, arguments)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line.startswith("Error:")]


def test_cli_reports_a_taken_port_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(sandbox_command, ["--port", str(port)])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: cannot listen on 127.0.0.1:")
    assert len(result.output.strip().splitlines()) == 1
