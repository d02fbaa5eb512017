"""The staff API's JSON as records: cases and events checked field by field (no HTTP here).

Kept apart from staff.remote so that the worker processes that verify and decrypt big lists
(staff.listing) load no HTTP client.
"""

from __future__ import annotations

from typing import Any

from crypto.encoding import unb64
from crypto.envelope import valid_case_id, valid_queue
from crypto.errors import CryptoError
from model.cases import Case, CaseId, CaseTimes, Delivery, Event, EventKind, Status
from staff.errors import ServerAnswerInvalid


def b64_field(value: Any, what: str) -> bytes:
    """A canonical base64 field of the server's answer, decoded (ServerAnswerInvalid if it is not)."""
    try:
        return unb64(value, None, what, CryptoError)
    except CryptoError as err:
        raise ServerAnswerInvalid(f"the server sent a bad {what}") from err


#: Status by its value: a dictionary lookup instead of the enum's slower call (listings read thousands).
_STATUSES: dict[str, Status] = {status.value: status for status in Status}


def _time(value: Any, optional: bool = False) -> bool:
    return type(value) is int or (optional and value is None)


def case_from_json(obj: Any) -> Case:
    """A case from the API's JSON, checked field by field."""
    try:
        case_id, queue = obj["id"], obj["queue"]
        if not (isinstance(case_id, str) and valid_case_id(case_id) and isinstance(queue, str) and valid_queue(queue)):
            raise ValueError("labels")
        claimed_by = obj["claimed_by"]
        if claimed_by is not None and not isinstance(claimed_by, str):
            raise ValueError("claimed_by")
        created_at, updated_at, claimed_at, closed_at = (obj["created_at"], obj["updated_at"], obj["claimed_at"],
                                                         obj["closed_at"])
        if not (_time(created_at) and _time(updated_at) and _time(claimed_at, True) and _time(closed_at, True)):
            raise ValueError("times")
        envelope = b64_field(obj["envelope"], "case envelope") if "envelope" in obj else None
        assigned_to = obj.get("assigned_to")  # absent from servers older than the desk
        followups = obj.get("followups", 0)
        if (assigned_to is not None and not isinstance(assigned_to, str)) or type(followups) is not int:
            raise ValueError("desk fields")
        tags = obj.get("tag_events")
        if tags is not None and type(tags) is not list:
            raise ValueError("tag_events")
        tag_events = tuple(event_from_json(e, CaseId(case_id)) for e in tags) if tags else ()
        if any(e.kind not in (EventKind.TAG, EventKind.UNTAG) for e in tag_events):
            raise ValueError("tag_events")
        return Case(CaseId(case_id), queue, _STATUSES[obj["status"]], created_at, updated_at, claimed_by,
                    claimed_at, closed_at, envelope, assigned_to, followups, tag_events)
    except (KeyError, TypeError, ValueError) as err:
        raise ServerAnswerInvalid("the server sent a malformed case") from err


def event_from_json(obj: Any, case_id: CaseId) -> Event:
    """An event from the API's JSON."""
    try:
        if type(obj["id"]) is not int or type(obj["created_at"]) is not int or not isinstance(obj["actor"], str):
            raise ValueError("fields")
        envelope = None if obj["envelope"] is None else b64_field(obj["envelope"], "event envelope")
        delivery = obj.get("delivery")  # absent from servers older than reply delivery states
        subject = obj.get("subject")
        if subject is not None and not isinstance(subject, str):
            raise ValueError("subject")
        return Event(obj["id"], case_id, EventKind(obj["kind"]), obj["actor"], obj["created_at"], envelope,
                     None if delivery is None else Delivery(delivery), subject)
    except (KeyError, TypeError, ValueError) as err:
        raise ServerAnswerInvalid("the server sent a malformed event") from err


def times_from_json(obj: Any) -> CaseTimes:
    """A case's statistics metadata from GET /api/v1/stats."""
    try:
        case_id, queue = obj["id"], obj["queue"]
        if not (isinstance(case_id, str) and valid_case_id(case_id) and isinstance(queue, str) and valid_queue(queue)):
            raise ValueError("labels")
        optional = [obj["first_claim_at"], obj["first_reply_at"]]
        if type(obj["created_at"]) is not int or not all(t is None or type(t) is int for t in optional):
            raise ValueError("times")
        return CaseTimes(CaseId(case_id), queue, Status(obj["status"]), obj["created_at"], optional[0], optional[1])
    except (KeyError, TypeError, ValueError) as err:
        raise ServerAnswerInvalid("the server sent malformed statistics") from err
