"""Cover mode end to end: the real bot against the sandbox, entry codes minted on the real database."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot import cover_texts as C
from bot import texts
from bot.cover import load_cover_translations
from storage.entry import DAY, EntryStore, hash_entry_code, new_entry_code
from tests.bot.flows import complete_intake, tr
from tests.bot.harness import Bot, Person, Sandbox, configure_home, start_bot, start_sandbox, wait_until
from tests.conftest import StaffedHome, build_staffed_home

COVER = load_cover_translations()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = start_sandbox(tmp_path_factory.mktemp("sandbox"), "--per-chat-rate", "0", "--global-rate", "0")
    yield box
    box.process.stop()


@pytest.fixture(scope="module")
def covered(tmp_path_factory: pytest.TempPathFactory, sandbox: Sandbox) -> Iterator[tuple[StaffedHome, Bot]]:
    """One bot with [cover] enabled for the module (each test uses its own person)."""
    tmp = tmp_path_factory.mktemp("covered")
    staffed = build_staffed_home(tmp / "home")
    port = configure_home(staffed.root, sandbox, after_submit=60)
    config = staffed.root / "config.toml"
    config.write_text(config.read_text().replace("enabled = false", "enabled = true"))
    bot = start_bot(staffed.root, port, tmp / "bot.log")
    yield staffed, bot
    bot.stop()


def mint(staffed: StaffedHome, *, uses: int = 1, queue: str | None = None, days: int = 1,
         ago: int = 0) -> str:
    code = new_entry_code()
    with staffed.open() as server:
        EntryStore(server.db).create(hash_entry_code(code, server.pepper()), queue=queue, uses=uses,
                                     valid_days=days, created_by="Ada Admin", now=int(time.time()) - ago)
    return code


def cover_help(language: str = "en") -> str:
    return COVER.gettext(language, C.TIMEZONE_HELP)


def intake_words() -> list[str]:
    """First lines of every intake text (English): none may show in a covered chat."""
    return [tr("en", m) for m in (texts.CONSENT, texts.FOLLOW_UP_ASK_REFERENCE, texts.UNKNOWN_COMMAND,
                                  texts.FORM_EXPIRED, texts.ONLY_TEXT)]


def assert_only_cover(person: Person) -> None:
    for message in person.bot_messages():
        text = message.get("text") or ""
        assert not any(word in text for word in intake_words()), text
        assert not message.get("reply_markup"), "the cover has no buttons"


def test_the_public_face_is_the_utility_in_every_language(covered: tuple[StaffedHome, Bot], sandbox: Sandbox) -> None:
    for language in ("en", "ru", "fa"):
        def shown(language: str = language) -> dict[str, object] | None:
            [bot] = sandbox.client.get(f"{sandbox.api}/bots", params={"language_code": language}).json()["bots"]
            return bot if bot["name"] == COVER.gettext(language, C.TIMEZONE_NAME) else None

        bot = wait_until(shown, 20, what=f"the cover's name in {language}")
        assert bot["short_description"] == COVER.gettext(language, C.TIMEZONE_SHORT)
        assert bot["description"] == cover_help(language)
        assert [c["command"] for c in bot["commands"]] == ["start", "help"]


def test_the_utility_really_works_for_anyone(covered: tuple[StaffedHome, Bot], sandbox: Sandbox) -> None:
    person = sandbox.person("en")
    person.say("15:30 UTC UTC+3")
    person.wait_for_text("15:30 UTC = 18:30 UTC+3")
    person.say("I need help")  # anything else: the utility's "not understood", never the intake
    person.wait_for_text(COVER.gettext("en", C.NOT_UNDERSTOOD))
    person.say("/cancel")
    person.wait_quiet(3)
    assert_only_cover(person)


def test_missing_and_wrong_codes_get_the_same_cover_answer_and_the_start_is_deleted(
        covered: tuple[StaffedHome, Bot], sandbox: Sandbox) -> None:
    answers = []
    for payload in ("/start", "/start WRONGWRONGWRONG2", "/start " + "x" * 60):
        person = sandbox.person("ru")
        person.say(payload)
        person.wait_for_text(cover_help("ru").splitlines()[0])
        wait_until(lambda p=person: not [m for m in p.messages() if m["side"] != "bot"], 10,
                   what="the /start message deleted")
        answers.append([m["text"] for m in person.bot_messages()])
        assert_only_cover(person)
    assert answers[0] == answers[1] == answers[2] == [cover_help("ru")]


def test_used_up_expired_and_revoked_codes_get_the_cover(covered: tuple[StaffedHome, Bot], sandbox: Sandbox) -> None:
    staffed, _ = covered
    once = mint(staffed)
    first = sandbox.person("en")
    first.say(f"/start {once}")
    first.wait_for_text(tr("en", texts.CONSENT))
    expired = mint(staffed, days=1, ago=2 * DAY)
    revoked = mint(staffed, uses=5)
    with staffed.open() as server:
        store = EntryStore(server.db)
        [entry] = [e for e in store.list(int(time.time())) if e.uses_left == 5]
        store.revoke(entry.id, actor="cli", now=int(time.time()))
    for code in (once, expired, revoked):
        person = sandbox.person("en")
        person.say(f"/start {code}")
        person.wait_for_text(cover_help("en").splitlines()[0])
        assert [m["text"] for m in person.bot_messages()] == [cover_help("en")]


def test_a_right_code_reaches_the_form_and_routes_to_its_queue(covered: tuple[StaffedHome, Bot],
                                                               sandbox: Sandbox) -> None:
    staffed, _ = covered
    code = mint(staffed, queue="other")
    person = sandbox.person("en")
    person.say(f"/start {code}")
    person.wait_for_text(tr("en", texts.CONSENT))
    wait_until(lambda: not [m for m in person.messages() if code in (m.get("text") or "")], 10,
               what="the code gone from the chat")
    # An admitted chat may restart its form with a bare /start (complete_intake sends one).
    reference = complete_intake(person, "en", {"help": "leave", "urgency": "now", "country": "Narnia",
                                                "region": None, "contact": "x", "details": "x"})
    assert reference
    hint = person.wait_for_text(COVER.gettext("en", C.LEAVE_NO_TRACE).splitlines()[0], timeout=20)
    assert "Android" in hint["text"] and "iPhone" in hint["text"]
    with staffed.open() as server:
        queues = [r[0] for r in server.db.conn.execute("SELECT queue FROM cases")]
    assert queues == ["other"]
    person.say("Tokyo")  # after submit the chat is the utility again
    person.wait_for_text("Asia/Tokyo")


def test_cancel_and_forget_end_with_the_chat_list_hint_in_the_person_s_language(
        covered: tuple[StaffedHome, Bot], sandbox: Sandbox) -> None:
    staffed, _ = covered
    code = mint(staffed, uses=2)
    hint = COVER.gettext("uk", C.LEAVE_NO_TRACE)
    person = sandbox.person("uk")
    person.say(f"/start {code}")
    person.wait_for_text(tr("uk", texts.CONSENT))
    person.say("/cancel")
    person.wait_for_text(hint.splitlines()[0], timeout=20)
    person.say(f"/start {code}")
    person.wait_for_text(tr("uk", texts.CONSENT))
    person.press("x")  # "Delete this chat now"
    wait_until(lambda: [m["text"] for m in person.bot_messages()] == [hint], 20,
               what="only the hint left after the panic button")


def test_a_volunteer_command_without_a_valid_invitation_gets_the_cover(covered: tuple[StaffedHome, Bot],
                                                                       sandbox: Sandbox) -> None:
    for payload in ("/volunteer", "/volunteer K7QM-4XRT-9WPA"):
        person = sandbox.person("en")
        person.say(payload)
        person.wait_for_text(cover_help("en").splitlines()[0])
        assert [m["text"] for m in person.bot_messages()] == [cover_help("en")]
        assert_only_cover(person)
