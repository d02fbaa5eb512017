"""Nonces of signed staff requests: each may be used once within the signature window."""

from __future__ import annotations

from storage.db import Database, IntegrityError

MAX_NONCE_LENGTH = 128


class NonceStore:
    """Remembers nonces until two signature windows have passed; a second use is a replay.

    A signature is accepted within `window` seconds of its creation time, so a nonce first seen
    at `now` can come back until `now + 2 * window` at the latest. Only that expiry is stored,
    rounded up to the granularity (Database.coarse_after): no exact time of a staff request is
    kept, and a nonce is never forgotten while a replay of it could still be accepted.
    """

    def __init__(self, db: Database, window: int) -> None:
        self.db = db
        self.window = window

    def use(self, nonce: str, now: int) -> bool:
        """Record a nonce; False if it was already used (a replay) or is unacceptable."""
        if not nonce or len(nonce) > MAX_NONCE_LENGTH:
            return False
        try:
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM request_nonces WHERE expires_at < ?", (now,))
                conn.execute("INSERT INTO request_nonces (nonce, expires_at) VALUES (?, ?)",
                             (nonce, self.db.coarse_after(now + 2 * self.window)))
        except IntegrityError:
            return False
        return True
