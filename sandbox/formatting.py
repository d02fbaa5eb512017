"""Message entities: bot commands in user text, and Telegram's HTML parse mode."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from sandbox.errors import BotApiError, bad_request

Entity = dict[str, object]

_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@/])")

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "blockquote": "blockquote",
}


def utf16_len(text: str) -> int:
    """Return the length of text in UTF-16 code units, Telegram's unit for offsets."""
    return len(text.encode("utf-16-le")) // 2


def command_entities(text: str) -> list[Entity]:
    """Return the bot_command entities Telegram's clients attach to a user's text."""
    entities: list[Entity] = []
    for match in _COMMAND.finditer(text):
        entities.append(
            {
                "type": "bot_command",
                "offset": utf16_len(text[: match.start()]),
                "length": utf16_len(match.group(0)),
            }
        )
    return entities


@dataclass
class _OpenTag:
    """A tag seen but not yet closed, with the entity it will become (if any)."""

    tag: str
    offset: int
    entity_type: str | None
    extra: dict[str, object] = field(default_factory=dict)


class _HtmlToEntities(HTMLParser):
    """Collect plain text and entities from Telegram's subset of HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.units = 0
        self.entities: list[tuple[int, int, Entity]] = []
        self.open: list[_OpenTag] = []
        self.error: BotApiError | None = None

    def _fail(self, detail: str) -> None:
        """Remember the first parse error."""
        if self.error is None:
            self.error = bad_request(f"can't parse entities: {detail}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Open an entity for a supported tag."""
        values = dict(attrs)
        opened = _OpenTag(tag, self.units, _SIMPLE_TAGS.get(tag))
        if tag == "code" and self.open and self.open[-1].tag == "pre":
            # <pre><code class="language-x"> is one pre entity with a language.
            language = (values.get("class") or "").removeprefix("language-")
            if language:
                self.open[-1].extra["language"] = language
            opened.entity_type = None
        elif tag == "span" and values.get("class") == "tg-spoiler":
            opened.entity_type = "spoiler"
        elif tag == "a" and values.get("href"):
            opened.entity_type = "text_link"
            opened.extra["url"] = values["href"]
        elif tag not in _SIMPLE_TAGS and tag not in ("a", "span", "tg-emoji"):
            self._fail(f'unsupported start tag "{tag}"')
            return
        self.open.append(opened)

    def handle_endtag(self, tag: str) -> None:
        """Close the innermost open tag, which must match."""
        if not self.open or self.open[-1].tag != tag:
            self._fail(f'unmatched end tag "{tag}"')
            return
        closed = self.open.pop()
        length = self.units - closed.offset
        if closed.entity_type is not None and length > 0:
            entity: Entity = {"type": closed.entity_type, "offset": closed.offset, "length": length}
            entity.update(closed.extra)
            self.entities.append((closed.offset, -length, entity))

    def handle_data(self, data: str) -> None:
        """Append text, counting UTF-16 units for entity offsets."""
        self.parts.append(data)
        self.units += utf16_len(data)


def parse_html(text: str) -> tuple[str, list[Entity]]:
    """Turn HTML-formatted text into plain text and entities, or raise BotApiError."""
    parser = _HtmlToEntities()
    parser.feed(text)
    parser.close()
    if parser.error is not None:
        raise parser.error
    if parser.open:
        raise bad_request(
            "can't parse entities: can't find end tag corresponding to start tag "
            f'"{parser.open[-1].tag}"'
        )
    ordered = sorted(parser.entities, key=lambda item: (item[0], item[1]))
    return "".join(parser.parts), [entity for _, _, entity in ordered]
