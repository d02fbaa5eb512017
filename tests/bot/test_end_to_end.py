"""The whole path with real processes: a person asks through the sandbox, a caseworker works the
case with `waystation staff --server`, the person is told discreetly, reads the reply with their
reference, then follows up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot import texts
from crypto.keys import KDF_MINIMUM, dump_identity
from storage.outbox import OutboxStore
from tests.bot.conftest import BotFactory
from tests.bot.flows import complete_intake, tr
from tests.bot.harness import Sandbox, wait_until
from tests.bot.test_intake import CASES

PASS = "e2e passphrase"


def staff(tmp: Path, server: str, key: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WAYSTATION_PASSPHRASE": PASS, "WAYSTATION_CONFIG_DIR": str(tmp / "config")}
    return subprocess.run([sys.executable, "-m", "waystation", "staff", "--server", server, "--key", str(key), *args],
                          capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)


def test_intake_claim_reply_and_follow_up(sandbox: Sandbox, run_bot: BotFactory, tmp_path: Path) -> None:
    staffed, bot = run_bot()
    key = tmp_path / "cas-main.key"
    key.write_bytes(dump_identity(staffed.staff["cas-main"], PASS.encode(), KDF_MINIMUM))
    server = f"http://127.0.0.1:{bot.port}"

    person = sandbox.person("ru")
    reference = complete_intake(person, "ru", CASES["ru"])

    listed = staff(tmp_path, server, key, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    cases = json.loads(listed.stdout)
    assert len(cases) == 1 and cases[0]["request"]["answers"]["details"] == CASES["ru"]["details"]
    case_id = cases[0]["id"]

    claimed = staff(tmp_path, server, key, "claim", case_id)
    assert claimed.returncode == 0, claimed.stderr
    replied = staff(tmp_path, server, key, "reply", case_id, "Мы получили ваш запрос, ответ e2e-5w")
    assert replied.returncode == 0, replied.stderr

    notice = person.wait_for_text(tr("ru", texts.NEW_MESSAGE), timeout=30)
    assert "e2e-5w" not in json.dumps(person.messages(), ensure_ascii=False)
    notified = json.loads(staff(tmp_path, server, key, "show", case_id, "--json").stdout)
    assert [e["delivery"] for e in notified["events"] if e["kind"] == "reply"] == ["notified"]

    # Show asks for the reference; with it the reply is shown, then the offer to add information.
    person.press(next(data for _, data in person.buttons(notice) if data.startswith("read")))
    person.wait_for_text(tr("ru", texts.FOLLOW_UP_ASK_REFERENCE))
    person.say(reference or "")
    person.wait_for_text("ответ e2e-5w", timeout=20)
    person.wait_for_text(tr("ru", texts.FOLLOW_UP_ASK_TEXT))
    with staffed.open() as opened:
        wait_until(lambda: OutboxStore(opened.db).all() == [], what="the outbox to be empty")
    person.say("дополнение e2e-8r")
    person.wait_for_text(tr("ru", texts.FOLLOW_UP_DONE))

    shown = staff(tmp_path, server, key, "show", case_id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert "e2e-8r" in shown.stdout and "e2e-5w" in shown.stdout  # the follow-up and our reply copy
    assert [e["delivery"] for e in json.loads(shown.stdout)["events"] if e["kind"] == "reply"] == ["read"]
    bot.stop()
    for path in (p for p in staffed.root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for needle in ("e2e-5w", "e2e-8r", str(person.chat_id)):
            assert needle.encode() not in data, f"{needle} in {path.name}"
