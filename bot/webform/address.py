"""Where the sealed form lives: its path under [intake] public_url, and the address its buttons open."""

from __future__ import annotations

PREFIX = "/form"


def form_url(public_url: str, language: str) -> str:
    """The address a web_app button opens (the page's language in the query; nothing else)."""
    return f"{public_url.rstrip('/')}{PREFIX}/?lang={language}"
