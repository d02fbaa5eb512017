"""The desk's own interface texts: Babel-compiled gettext catalogues of the domain "desk".

The catalogues live in staff/web/locale/<lang>/LC_MESSAGES/desk.po (python -m staff.web.messages
rebuilds desk.pot from the templates and merges it into them); like the bot's, they are compiled
in memory at start-up.
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from pathlib import Path

from model.catalogues import compile_catalogue

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "desk"
DEFAULT = "en"
#: Interface languages, each named in its own script (the switch in the page).
LANGUAGES: Mapping[str, str] = {"en": "English", "ru": "Русский"}


def load(locale_dir: Path = LOCALE_DIR) -> dict[str, gettext.NullTranslations]:
    """Every interface language's catalogue (English falls back to the message ids)."""
    catalogues: dict[str, gettext.NullTranslations] = {}
    for code in LANGUAGES:
        po = locale_dir / code / "LC_MESSAGES" / f"{DOMAIN}.po"
        catalogues[code] = compile_catalogue(po) if po.exists() else gettext.NullTranslations()
    return catalogues


def negotiate(chosen: str | None, accept_language: str | None) -> str:
    """The switch's choice if any, else the first supported language of the browser's Accept-Language."""
    if chosen is not None and chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag.strip().lower().split("-", 1)[0]))
    for _, _, base in sorted(ranked):
        if base in LANGUAGES:
            return base
    return DEFAULT
