"""Rebuild staff/web/locale/desk.pot from the desk's templates and code, and merge it into every desk.po.

Run from anywhere: `python -m staff.web.messages`. New messages appear untranslated in each
language's desk.po (the desk shows English for them until they are translated).
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).parent
LOCALE = HERE / "locale"
#: Texts the templates translate from a value (statuses, event kinds, delivery states).
VALUES = ("new", "claimed", "closed", "claim", "note", "follow_up", "reply", "close", "reopen", "ack", "assign",
          "tag", "untag", "take_over", "queued", "notified", "read", "expired", "undeliverable", "rejected")


def collect() -> Catalog:
    """Every message id of the desk."""
    catalog = Catalog(project="waystation-desk", domain="desk")
    method_map = [("templates/**.html", "jinja2"), ("*.py", "python")]
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "tr": (2,), "ntr": (2, 3)}
    for filename, lineno, message, comments, _context in extract_from_dir(HERE, method_map, options, keywords=keywords):
        catalog.add(message, locations=[(f"staff/web/{filename}", lineno)], auto_comments=comments)
    for value in VALUES:
        catalog.add(value, locations=[("staff/web/messages.py", 0)])
    return catalog


def main() -> None:
    template = collect()
    with (LOCALE / "desk.pot").open("wb") as handle:
        write_po(handle, template, omit_header=False, sort_output=False)
    for code in ("en", "ru"):
        po_path = LOCALE / code / "LC_MESSAGES" / "desk.po"
        if po_path.exists():
            with po_path.open("rb") as handle:
                catalog = read_po(handle, locale=code)
        else:
            catalog = Catalog(locale=code, project="waystation-desk", domain="desk")
        catalog.update(template, no_fuzzy_matching=True)
        with po_path.open("wb") as handle:
            write_po(handle, catalog, ignore_obsolete=True)
        print(f"updated {po_path.relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    main()
