"""Catalogues are complete in every shipped language; forms are checked strictly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot import texts
from bot.errors import FormInvalid
from bot.form import load_form, parse_form
from bot.i18n import LANGUAGES, LOCALE_DIR, RIGHT_TO_LEFT, Translations, pick_language
from scripts.extract_messages import collect

PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def template_ids() -> set[str]:
    return {m.id for m in collect() if m.id}


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_catalogue_translates_every_message_with_the_same_placeholders(language: str) -> None:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "waystation.po").open("rb") as handle:
        catalogue = read_po(handle)
    translated = {m.id: m.string for m in catalogue if m.id and m.string and not m.fuzzy}
    missing = template_ids() - set(translated)
    assert not missing, f"{language} lacks: {sorted(missing)[:3]}"
    for msgid, msgstr in translated.items():
        # A message with a number: every form of the language says what the English plural says.
        english = msgid[1] if isinstance(msgid, tuple) else msgid
        forms = list(msgstr) if isinstance(msgstr, tuple) else [msgstr]
        if isinstance(msgid, tuple):
            assert len(forms) == catalogue.num_plurals and all(forms), (language, english)
        for form in forms:
            assert sorted(PLACEHOLDER.findall(english)) == sorted(PLACEHOLDER.findall(str(form))), english
            for command in ("/forget", "/cancel", "/start"):
                assert (command in english) == (command in str(form)), (language, english)


#: Plural-Forms each catalogue must declare: how many forms its language has.
PLURAL_FORMS = {"en": 2, "es": 2, "fr": 2, "fa": 2, "ru": 3, "uk": 3, "ar": 6}


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_catalogue_declares_its_languages_plural_forms(language: str) -> None:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "waystation.po").open("rb") as handle:
        catalogue = read_po(handle, locale=language)
    assert catalogue.num_plurals == PLURAL_FORMS[language]
    assert f"nplurals={PLURAL_FORMS[language]};" in dict(catalogue.mime_headers)["Plural-Forms"]


def test_a_number_is_shown_with_the_form_its_language_uses() -> None:
    t = Translations.load()
    assert t.ngettext("en", texts.CANCELLED, 1).format(minutes=1).endswith("in 1 minute.")
    assert t.ngettext("en", texts.CANCELLED, 5).format(minutes=5).endswith("in 5 minutes.")
    assert t.ngettext("fr", texts.CANCELLED, 1).format(minutes=1).endswith("dans 1 minute.")
    assert t.ngettext("es", texts.CANCELLED, 2).format(minutes=2).endswith("en 2 minutos.")
    assert t.ngettext("ar", texts.CANCELLED, 5).format(minutes=5).endswith("5 دقائق.")
    assert t.ngettext("ar", texts.CANCELLED, 11).format(minutes=11).endswith("11 دقيقة.")
    assert t.ngettext("en", texts.NOTICE_UNREADABLE, 1).startswith("{count} open request cannot")
    with pytest.raises(TypeError):
        t.text("en", texts.CANCELLED)  # a message with a number needs the number


def test_template_is_up_to_date_with_the_code() -> None:
    with (LOCALE_DIR / "waystation.pot").open("rb") as handle:
        committed = {m.id for m in read_po(handle) if m.id}
    assert committed == template_ids(), "run: python scripts/extract_messages.py"


def test_every_default_form_string_is_translated_for_russian() -> None:
    t = Translations.load()
    for question in load_form().questions:
        assert t.gettext("ru", question.prompt) != question.prompt
        for option in question.options:
            assert t.gettext("ru", option.label) != option.label


@pytest.mark.parametrize(("code", "expected"), [("ru", "ru"), ("ru-RU", "ru"), ("fa_IR", "fa"), ("pt-br", "en"),
                                                (None, "en"), ("", "en"), ("AR", "ar")])
def test_language_is_picked_from_telegram_code(code: str | None, expected: str) -> None:
    assert pick_language(code) == expected


def test_right_to_left_languages_are_shipped() -> None:
    assert RIGHT_TO_LEFT <= set(LANGUAGES)


BAD_FORMS = {
    "no questions": "",
    "bad toml": "[[questions]\n",
    "bad id": '[[questions]]\nid = "Bad Id"\ntype = "text"\nprompt = "p"\n',
    "unknown type": '[[questions]]\nid = "a"\ntype = "date"\nprompt = "p"\n',
    "unknown key": '[[questions]]\nid = "a"\ntype = "text"\nprompt = "p"\nsecret = 1\n',
    "choice without options": '[[questions]]\nid = "a"\ntype = "choice"\nprompt = "p"\n',
    "duplicate ids": '[[questions]]\nid = "a"\ntype = "text"\nprompt = "p"\n'
                     '[[questions]]\nid = "a"\ntype = "text"\nprompt = "q"\n',
    "huge max_length": '[[questions]]\nid = "a"\ntype = "text"\nprompt = "p"\nmax_length = 99999\n',
    "text with options": '[[questions]]\nid = "a"\ntype = "text"\nprompt = "p"\noptions = []\n',
}


@pytest.mark.parametrize("name", list(BAD_FORMS))
def test_bad_forms_are_refused(name: str) -> None:
    with pytest.raises(FormInvalid):
        parse_form(BAD_FORMS[name])


def test_home_form_overrides_the_default(tmp_path: Path) -> None:
    path = tmp_path / "form.toml"
    path.write_text('[[questions]]\nid = "only"\ntype = "text"\nprompt = "Only question"\n')
    assert [q.id for q in load_form(path).questions] == ["only"]
    assert [q.id for q in load_form(tmp_path / "absent.toml").questions][0] == "help"
