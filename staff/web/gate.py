"""Who may talk to the desk's local server: a one-time URL secret, then one session cookie.

Any local process (or a web page the caseworker visits) can reach 127.0.0.1; what keeps them out
is a secret only the caseworker's browser holds. The secret in the URL works once (a URL can leak
through shell history or a screen share), and is traded for an HttpOnly, SameSite=Strict cookie
that scripts cannot read and other sites cannot send. Both are random per process.
"""

from __future__ import annotations

from base64 import urlsafe_b64encode
from dataclasses import dataclass, field

import nacl.utils
from nacl.bindings import sodium_memcmp

COOKIE = "waystation_desk"
SECRET_BYTES = 32


def fresh_secret() -> str:
    """SECRET_BYTES random bytes (PyNaCl's randombytes), URL-safe."""
    return urlsafe_b64encode(nacl.utils.random(SECRET_BYTES)).decode("ascii").rstrip("=")


def _same(given: str | None, expected: str) -> bool:
    """Constant-time comparison, so the secret cannot be guessed byte by byte from answer times."""
    if given is None:
        return False
    a, b = given.encode("utf-8"), expected.encode("utf-8")
    return len(a) == len(b) and sodium_memcmp(a, b)


@dataclass
class Gate:
    """The URL secret (until used), the session cookie and the form token of this desk process."""

    url_secret: str = field(default_factory=fresh_secret)
    session: str = field(default_factory=fresh_secret)
    form_token: str = field(default_factory=fresh_secret)
    used: bool = False

    def exchange(self, given: str) -> str | None:
        """The session cookie's value for the right, unused URL secret; None otherwise (and for ever after)."""
        if self.used or not _same(given, self.url_secret):
            return None
        self.used = True
        self.url_secret = fresh_secret()  # the old one is gone from memory too
        return self.session

    def admits(self, cookie: str | None) -> bool:
        """Whether a request carries this process's session cookie."""
        return self.used and _same(cookie, self.session)

    def form_ok(self, token: str | None) -> bool:
        """Whether a form carries this session's token (cross-site forms cannot know it)."""
        return _same(token, self.form_token)
