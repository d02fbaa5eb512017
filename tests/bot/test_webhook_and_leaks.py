"""Webhook mode with the secret-token check; and nothing a person typed, nor who they are, is left behind."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from bot import texts
from staff.direct import StaffSession
from tests.bot.conftest import BotFactory
from tests.bot.flows import complete_intake, tr
from tests.bot.harness import Sandbox, configure_home, free_port, start_bot, wait_until
from tests.conftest import build_staffed_home


def test_webhook_mode_checks_the_secret_and_runs_the_intake(sandbox: Sandbox, tmp_path: Path) -> None:
    staffed = build_staffed_home(tmp_path / "home")
    port = free_port()
    configure_home(staffed.root, sandbox)
    config = (staffed.root / "config.toml").read_text()
    config = config.replace('mode = "polling"', 'mode = "webhook"')
    config = config.replace('webhook_url = ""', f'webhook_url = "http://127.0.0.1:{port}"')
    config = config.replace(config.split("listen = ")[1].split("\n")[0], f'"127.0.0.1:{port}"')
    (staffed.root / "config.toml").write_text(config)
    bot = start_bot(staffed.root, port, tmp_path / "bot.log")
    try:
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        sender = {"id": 1, "is_bot": False, "first_name": "x"}
        forged = {"update_id": 999, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"},
                                                "from": sender, "text": "/start"}}
        assert httpx.post(url, json=forged).status_code == 403
        assert httpx.post(url, json=forged, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}).status_code == 403
        person = sandbox.person("en")
        complete_intake(person, "en", {"help": "talk", "urgency": "days", "country": "C", "region": None,
                                       "contact": "here", "details": None})
        with staffed.open() as server:
            assert len(server.cases.list()) == 1
    finally:
        bot.stop()


def test_no_answer_chat_id_or_name_in_the_home_or_the_log(sandbox: Sandbox, run_bot: BotFactory,
                                                           tmp_path: Path) -> None:
    staffed, bot = run_bot(after_submit=5)
    canary = "Canary" + str(time.time_ns())[-9:]
    person = sandbox.person("ru", name="Firstname" + canary, username="user" + canary.lower())
    answers = {"help": "medical", "urgency": "days", "country": "Страна " + canary, "region": "Регион " + canary,
               "contact": "контакт " + canary, "details": "подробности " + canary}
    reference = complete_intake(person, "ru", answers)
    person.say("/start")
    person.press("f")
    person.wait_for_text(tr("ru", texts.FOLLOW_UP_ASK_REFERENCE))
    person.say(reference or "")
    person.wait_for_text(tr("ru", texts.FOLLOW_UP_ASK_TEXT))
    person.say("дополнение " + canary)
    person.wait_for_text(tr("ru", texts.FOLLOW_UP_DONE))
    wait_until(lambda: person.messages() == [], timeout=20, what="the chat to empty")
    with staffed.open() as server:
        case = server.cases.list(with_envelopes=True)[0]
        view = StaffSession.start(server, staffed.staff["cas-main"], int(time.time())).read(case)
        assert view.request is not None and canary in view.request["answers"]["details"]  # the canary did arrive
    bot.stop()
    needles = [canary, canary.lower(), str(person.chat_id), "Firstname", reference or "",
               " ".join([reference[:4], reference[4:7]]) if reference else ""]
    haystacks = [p for p in staffed.root.rglob("*") if p.is_file()] + [bot.process.log_path]
    for path in haystacks:
        data = path.read_bytes()
        for needle in filter(None, needles):
            for encoded in (needle.encode("utf-8"), needle.encode("utf-16-le")):
                assert encoded not in data, f"{needle!r} found in {path.name}"
