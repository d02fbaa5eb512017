"""The sandbox's pure rules: entities, keyboards, flood buckets, parameter decoding."""

from __future__ import annotations

import pytest

from sandbox.errors import BotApiError
from sandbox.formatting import command_entities, parse_html, utf16_len
from sandbox.markup import has_callback_button, parse_inline_markup, parse_markup
from sandbox.params import Params
from sandbox.ratelimit import FloodControl, TokenBucket
from sandbox.settings import SandboxSettings


def test_utf16_length_counts_emoji_as_two_units() -> None:
    assert utf16_len("a😀b") == 4
    assert utf16_len("سلام") == 4


def test_bot_commands_are_marked_where_telegram_marks_them() -> None:
    entities = command_entities("😀 /help now and /start@waystation_sandbox_bot, not a/b")
    assert entities == [
        {"type": "bot_command", "offset": 3, "length": 5},
        {"type": "bot_command", "offset": 17, "length": 29},
    ]
    assert command_entities("no commands here") == []


def test_html_nesting_links_and_code_languages() -> None:
    text, entities = parse_html(
        '<b>a<i>b</i></b> <a href="https://example.org">x</a> '
        '<pre><code class="language-python">p</code></pre> &lt;ok&gt;'
    )
    assert text == "ab x p <ok>"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "italic", "offset": 1, "length": 1},
        {"type": "text_link", "offset": 3, "length": 1, "url": "https://example.org"},
        {"type": "pre", "offset": 5, "length": 1, "language": "python"},
    ]


@pytest.mark.parametrize("html", ["<b>open", "<b>x</i>", "<script>x</script>", "a<br>b"])
def test_html_that_telegram_rejects_is_rejected(html: str) -> None:
    with pytest.raises(BotApiError) as caught:
        parse_html(html)
    assert caught.value.code == 400
    assert caught.value.description.startswith("Bad Request: can't parse entities")


def test_inline_keyboard_rules() -> None:
    good = {"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}]]}
    assert parse_inline_markup(good) == good
    assert has_callback_button(good, "y") and not has_callback_button(good, "n")
    too_long = {"inline_keyboard": [[{"text": "x", "callback_data": "é" * 33}]]}
    with pytest.raises(BotApiError, match="BUTTON_DATA_INVALID"):
        parse_markup(too_long)
    with pytest.raises(BotApiError, match="Text buttons are unallowed"):
        parse_markup({"inline_keyboard": [[{"text": "plain"}]]})
    with pytest.raises(BotApiError, match="inline keyboard expected"):
        parse_inline_markup({"keyboard": [["a"]]})
    assert parse_markup({"keyboard": [["a", {"text": "b"}]]}).keyboard == [["a", "b"]]
    assert parse_markup({"remove_keyboard": True}).remove_keyboard


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=1.0, capacity=3, now=0.0)
    for _ in range(3):
        assert bucket.wait_seconds(0.0) == 0.0
        bucket.take(0.0)
    assert bucket.wait_seconds(0.0) == pytest.approx(1.0)
    assert bucket.wait_seconds(0.5) == pytest.approx(0.5)
    assert bucket.wait_seconds(1.0) == 0.0


def test_flood_control_reports_scope_and_whole_seconds() -> None:
    flood = FloodControl(SandboxSettings(per_chat_per_second=0.25, per_chat_burst=1), now=0.0)
    assert flood.check(1, False, 0.0) is None
    flood.record(1, False, 0.0)
    throttled = flood.check(1, False, 0.1)
    assert throttled is not None
    assert (throttled.scope, throttled.retry_after) == ("chat", 4)
    assert flood.check(2, False, 0.1) is None


def test_params_accept_json_values_and_form_strings() -> None:
    from_form = Params({"chat_id": "-42", "disable_notification": "true", "ids": "[1, 2]"})
    from_json = Params({"chat_id": -42, "disable_notification": True, "ids": [1, 2]})
    for params in (from_form, from_json):
        assert params.chat_id() == -42
        assert params.boolean("disable_notification") is True
        assert params.json("ids") == [1, 2]
    assert Params({"text": "123"}).text("text") == "123"
    with pytest.raises(BotApiError, match="chat not found"):
        Params({"chat_id": "@someone"}).chat_id()
    with pytest.raises(BotApiError, match="chat_id is empty"):
        Params({}).chat_id()
    with pytest.raises(BotApiError, match="must be of type Integer"):
        Params({"limit": "ten"}).integer("limit")
