"""Rebuild bot/locale/waystation.pot from bot/texts.py and bot/default_form.toml, and merge it
into every language's .po (new strings appear untranslated); likewise bot/locale/cover.pot from
bot/cover_texts.py (its own domain, "cover"). Run from the repository root."""

from __future__ import annotations

import tomllib
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "bot" / "locale"


def collect() -> Catalog:
    """Every message id the bot can show."""
    catalog = Catalog(project="waystation", domain="waystation")
    texts = ROOT / "bot" / "texts.py"
    for lineno, message, comments, _context in extract_from_file("python", texts, keywords={"N_": None, "Np_": (1, 2)}):
        catalog.add(message, locations=[("bot/texts.py", lineno)], auto_comments=comments)
    form = tomllib.loads((ROOT / "bot" / "default_form.toml").read_text(encoding="utf-8"))
    for question in form["questions"]:
        catalog.add(question["prompt"], locations=[("bot/default_form.toml", 0)])
        for option in question.get("options", []):
            catalog.add(option["label"], locations=[("bot/default_form.toml", 0)])
    return catalog


def collect_cover() -> Catalog:
    """Every message id of cover mode and of the chat's last message (bot/cover_texts.py)."""
    catalog = Catalog(project="waystation", domain="cover")
    texts = ROOT / "bot" / "cover_texts.py"
    for lineno, message, comments, _context in extract_from_file("python", texts, keywords={"N_": None}):
        catalog.add(message, locations=[("bot/cover_texts.py", lineno)], auto_comments=comments)
    return catalog


def main() -> None:
    merge(collect(), "waystation")
    merge(collect_cover(), "cover")


def merge(template: Catalog, domain: str) -> None:
    """Write DOMAIN.pot and bring every language's DOMAIN.po up to it."""
    with (LOCALE / f"{domain}.pot").open("wb") as handle:
        write_po(handle, template, omit_header=False, sort_output=False)
    for po_path in sorted(LOCALE.glob(f"*/LC_MESSAGES/{domain}.po")):
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=po_path.parent.parent.name)
        catalog.update(template, no_fuzzy_matching=True)
        with po_path.open("wb") as handle:
            write_po(handle, catalog, ignore_obsolete=True)
        print(f"updated {po_path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
