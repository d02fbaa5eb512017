"""A case as one caseworker sees it: the outcome of verifying and decrypting its request."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from model.cases import Case


class ReadState(StrEnum):
    """Whether a case could be read with this key."""

    OK = "ok"
    REJECTED = "rejected"
    NOT_FOR_THIS_KEY = "not-for-this-key"


@dataclass(frozen=True)
class CaseView:
    """A case as one caseworker sees it."""

    case: Case
    state: ReadState
    request: dict[str, Any] | None
    problem: str | None
    tags: frozenset[str] = field(default_factory=frozenset)  # from the sealed tag events this key could read

    @property
    def assigned_to(self) -> str | None:
        """The roster name of the caseworker the case is assigned to (case metadata)."""
        return self.case.assigned_to

    @property
    def followups(self) -> int:
        """How many follow-ups the person sent."""
        return self.case.followups

    @property
    def last_activity(self) -> float:
        """When anything last happened to the case (a coarse time: every change updates it)."""
        return float(self.case.updated_at)
