"""A case as one caseworker sees it: the outcome of verifying and decrypting its request."""

from __future__ import annotations

from dataclasses import dataclass
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
