"""The sealed form's parts on their own: initData checks, drafts in memory, the page's pinned files, [intake]."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.form import load_form
from bot.i18n import Translations
from bot.webform.drafts import MAX_OPEN, Shelf
from bot.webform.initdata import MAX_AGE_SECONDS, InitDataRefused, verify
from bot.webform.initdata import sign as sign_fields
from bot.webform.page import SERVED, STATIC, form_json
from scripts import webform_sri
from storage.config import parse_config
from storage.errors import ConfigInvalid

TOKEN = "424242:" + "T" * 35
NOW = 1_800_000_000


def launch(**change: str) -> dict[str, str]:
    fields = {"user": json.dumps({"id": 700000001, "first_name": "A", "language_code": "ar"}),
              "auth_date": str(NOW - 10), "chat_type": "private", "chat_instance": "42", "query_id": "q"}
    fields.update(change)
    return fields


def signed(fields: dict[str, str], token: str = TOKEN) -> str:
    return urlencode({**fields, "hash": sign_fields(fields, token)})


def test_signed_launch_data_names_the_private_chat_and_language() -> None:
    result = verify(signed(launch()), TOKEN, NOW)
    assert (result.chat_id, result.language_code) == (700000001, "ar")


@pytest.mark.parametrize("data", [
    "",
    "hash=00",
    signed(launch(), token="999:" + "X" * 35),
    signed(launch(auth_date=str(NOW - MAX_AGE_SECONDS - 1))),
    signed(launch(auth_date=str(NOW + 3600))),
    signed(launch(chat_type="group")),
    signed(launch(user=json.dumps({"first_name": "no id"}))),
    signed(launch(user=json.dumps({"id": True}))),
    signed(launch()) + "&auth_date=1",
    signed(launch()).replace("auth_date=", "auth_date=1"),
    "x" * 5000,
], ids=["empty", "no-fields", "other-token", "stale", "future", "group", "no-user-id", "bool-id", "repeated",
        "tampered", "too-long"])
def test_launch_data_is_refused(data: str) -> None:
    with pytest.raises(InitDataRefused):
        verify(data, TOKEN, NOW)


def test_a_shelf_keeps_one_item_per_chat_for_its_time_and_only_for_that_chat() -> None:
    shelf: Shelf[str] = Shelf(ttl=60)
    key = shelf.put(1, "first", now=0)
    assert shelf.get(key, 2, now=1) is None  # another chat
    assert shelf.get(key, 1, now=61) is None  # expired
    again = shelf.put(1, "second", now=2)
    assert shelf.get(key, 1, now=3) is None and shelf.get(again, 1, now=3) == "second"
    assert shelf.take(again, 1, now=3) == "second" and shelf.take(again, 1, now=3) is None
    shelf.put(5, "x", now=4)
    shelf.drop_chat(5)
    assert len(shelf) == 0


def test_a_shelf_is_bounded() -> None:
    shelf: Shelf[int] = Shelf(ttl=10**9)
    for chat in range(MAX_OPEN + 5):
        shelf.put(chat, chat, now=0)
    assert len(shelf) == MAX_OPEN


def test_the_pinned_hashes_and_the_vendor_manifest_are_current() -> None:
    assert webform_sri.main(["--check"]) == 0
    manifest = json.loads((STATIC / "vendor" / "MANIFEST.json").read_text())
    assert {f["package"] for f in manifest["files"]} == {"libsodium-sumo", "libsodium-wrappers-sumo"}
    index = (STATIC / "index.html").read_text()
    for name in SERVED:
        if name.endswith((".js", ".css")):
            assert re.search(rf'"static/{re.escape(name)}" integrity="sha384-[A-Za-z0-9+/=]{{64}}"', index), name


def test_the_page_has_no_inline_script_no_storage_and_no_html_injection() -> None:
    index = (STATIC / "index.html").read_text()
    assert "<script>" not in index and "style=" not in index and "on" + "click" not in index
    for name in ("app.js", "bridge.js", "seal.js"):
        code = (STATIC / name).read_text()
        for forbidden in ("localStorage", "sessionStorage.", "indexedDB", "document.cookie", "serviceWorker",
                          "innerHTML", "eval(", "new Function", "outerHTML", "insertAdjacentHTML"):
            assert forbidden not in code, (name, forbidden)


def test_the_form_json_is_translated_and_right_to_left_for_arabic_and_farsi() -> None:
    form, translations = load_form(), Translations.load()
    for language, direction in (("ar", "rtl"), ("fa", "rtl"), ("en", "ltr"), ("ru", "ltr")):
        data = form_json(form, translations, language)
        assert data["direction"] == direction
        assert data["questions"][0]["prompt"] == translations.gettext(language, form.questions[0].prompt)
        # what the request carries for a choice is the chat form's English label, whatever the language
        assert data["questions"][0]["options"][0]["value"] == form.questions[0].options[0].label
    assert [q["alert_safe"] for q in form_json(form, translations, "en")["questions"]] == [
        q.alert_safe for q in form.questions]


@pytest.mark.parametrize("section", [
    '[intake]\nmode = "sms"',
    '[intake]\npublic_url = "http://example.org"',
    '[intake]\npublic_url = "https://example.org/form?x=1"',
    '[intake]\npublic_url = "https://example.org/#x"',
    '[intake]\npublic_url = " https://example.org"',
])
def test_intake_config_is_checked(section: str) -> None:
    with pytest.raises(ConfigInvalid):
        parse_config(section)


def test_the_sealed_form_is_offered_only_with_a_public_url() -> None:
    assert not parse_config("").intake.sealed()
    assert parse_config('[intake]\npublic_url = "https://help.example.org"').intake.sealed()
    assert not parse_config('[intake]\nmode = "chat"\npublic_url = "https://help.example.org"').intake.sealed()
    assert parse_config('[intake]\nmode = "both"\npublic_url = "http://127.0.0.1:8765"').intake.sealed()


def test_static_files_are_package_data() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"bot.webform" = ["static/*.html", "static/*.js", "static/*.css", "static/vendor/*.js"' in pyproject
