"""Translations: gettext catalogues (.po, compiled with Babel at start-up) per language."""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.texts import Plural
from model.catalogues import compile_catalogue

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "waystation"
DEFAULT_LANGUAGE = "en"
#: Language code -> its name in its own script, as shown on the language buttons.
LANGUAGES: Mapping[str, str] = {
    "en": "English",
    "ru": "Русский",
    "uk": "Українська",
    "ar": "العربية",
    "fa": "فارسی",
    "es": "Español",
    "fr": "Français",
}
RIGHT_TO_LEFT = frozenset({"ar", "fa"})


@dataclass(frozen=True)
class Translations:
    """All catalogues, loaded once."""

    catalogues: Mapping[str, gettext.NullTranslations]

    @classmethod
    def load(cls, locale_dir: Path = LOCALE_DIR) -> Translations:
        """Compile every shipped catalogue."""
        catalogues: dict[str, gettext.NullTranslations] = {}
        for code in LANGUAGES:
            po = locale_dir / code / "LC_MESSAGES" / f"{DOMAIN}.po"
            catalogues[code] = compile_catalogue(po) if po.exists() else gettext.NullTranslations()
        return cls(catalogues)

    def gettext(self, language: str, message: str) -> str:
        """Translate one message id (falls back to English)."""
        catalogue = self.catalogues.get(language) or self.catalogues[DEFAULT_LANGUAGE]
        return catalogue.gettext(message)

    def ngettext(self, language: str, message: Plural, n: int) -> str:
        """Translate a message showing the number `n`, in the form the language uses for it (falls back to English)."""
        catalogue = self.catalogues.get(language) or self.catalogues[DEFAULT_LANGUAGE]
        return catalogue.ngettext(message.singular, message.plural, n)

    def text(self, language: str, message: str | Plural, n: int | None = None) -> str:
        """`gettext` for a plain message, `ngettext` for one showing a number (`n`, required then)."""
        if isinstance(message, Plural):
            if n is None:
                raise TypeError("a message with a number needs the number")
            return self.ngettext(language, message, n)
        return self.gettext(language, message)


def pick_language(code: str | None) -> str:
    """Our language for a Telegram language_code such as 'ru' or 'pt-br'; English otherwise."""
    if not code:
        return DEFAULT_LANGUAGE
    base = code.lower().replace("_", "-").split("-", 1)[0]
    return base if base in LANGUAGES else DEFAULT_LANGUAGE
