"""gettext catalogues compiled with Babel in memory: the bot's texts and the desk's interface share this."""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


def compile_catalogue(po_path: Path) -> gettext.GNUTranslations:
    """Read a .po file (<locale>/LC_MESSAGES/<domain>.po) and compile it into an in-memory catalogue."""
    with po_path.open("rb") as handle:
        catalogue = read_po(handle, locale=po_path.parent.parent.name)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)
