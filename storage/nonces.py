"""Nonces of signed staff requests: each may be used once within the signature window."""

from __future__ import annotations

from storage.db import Database, IntegrityError

MAX_NONCE_LENGTH = 128


class NonceStore:
    """Remembers nonces for `window` seconds; a second use is a replay."""

    def __init__(self, db: Database, window: int) -> None:
        self.db = db
        self.window = window

    def use(self, nonce: str, now: int) -> bool:
        """Record a nonce; False if it was already used (a replay) or is unacceptable."""
        if not nonce or len(nonce) > MAX_NONCE_LENGTH:
            return False
        try:
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM request_nonces WHERE seen_at < ?", (now - 2 * self.window,))
                conn.execute("INSERT INTO request_nonces (nonce, seen_at) VALUES (?, ?)", (nonce, now))
        except IntegrityError:
            return False
        return True
