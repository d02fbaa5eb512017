"""staff.wire: the client takes a case from the staff API's JSON only when every field is what it must be.

A hostile or broken server is the adversary: each malformed field gets its own refusal, and
whatever the API writes the client reads back unchanged (a property over generated cases).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.encoding import b64
from model.cases import Case, CaseId, Event, EventKind, Status
from staff.errors import ServerAnswerInvalid
from staff.wire import case_from_json
from staffapi.operations import case_json

labels = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)
names = st.one_of(st.none(), st.text(min_size=1, max_size=12))
times = st.integers(min_value=0, max_value=2**40)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    case_id = CaseId(draw(labels))
    tags = draw(st.lists(st.builds(Event, st.integers(1, 2**31), st.just(case_id),
                                   st.sampled_from([EventKind.TAG, EventKind.UNTAG]), st.text(min_size=1, max_size=8),
                                   times, st.binary(min_size=1, max_size=40)), max_size=3))
    return Case(case_id, draw(labels), draw(st.sampled_from(list(Status))), draw(times), draw(times), draw(names),
                draw(st.none() | times), draw(st.none() | times), draw(st.binary(min_size=1, max_size=300)),
                draw(names), draw(st.integers(0, 1000)), tuple(tags))


@given(cases())
def test_what_the_api_writes_the_client_reads_back(case: Case) -> None:
    doc = json.loads(json.dumps(case_json(case)))
    assert case_from_json(doc) == case


def good() -> dict[str, Any]:
    return json.loads(json.dumps(case_json(Case(CaseId("abcdef-123"), "main", Status.NEW, 100, 200, None, None, None,
                                                 b"sealed bytes"))))


BAD: dict[str, Any] = {
    "id with capitals": {"id": "ABCDEF"},
    "id not text": {"id": 12},
    "queue with a slash": {"queue": "ma/in"},
    "unknown status": {"status": "lost"},
    "status not text": {"status": ["new"]},
    "time as text": {"created_at": "100"},
    "time as float": {"updated_at": 200.0},
    "time as bool": {"created_at": True},
    "claimed_at as text": {"claimed_at": "later"},
    "claimed_by not text": {"claimed_by": 7},
    "assigned_to not text": {"assigned_to": ["x"]},
    "followups as text": {"followups": "2"},
    "envelope non-canonical": {"envelope": "AAB="},
    "envelope not base64": {"envelope": "not base64!"},
    "envelope not text": {"envelope": 5},
    "tag_events not a list": {"tag_events": 0},
    "tag_events of another kind": {"tag_events": [{"id": 1, "kind": "note", "actor": "a", "created_at": 1,
                                                   "envelope": b64(b"x")}]},
    "tag_events malformed": {"tag_events": [{"id": "1"}]},
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_malformed_field_is_refused(name: str) -> None:
    doc = good() | BAD[name]
    with pytest.raises(ServerAnswerInvalid, match="malformed case"):
        case_from_json(doc)


@pytest.mark.parametrize("field", ["id", "queue", "status", "created_at", "updated_at", "claimed_by", "claimed_at",
                                   "closed_at"])
def test_a_missing_field_is_refused(field: str) -> None:
    doc = good()
    del doc[field]
    with pytest.raises(ServerAnswerInvalid, match="malformed case"):
        case_from_json(doc)


@pytest.mark.parametrize("answer", [None, [], "case", 3])
def test_a_case_that_is_not_an_object_is_refused(answer: object) -> None:
    with pytest.raises(ServerAnswerInvalid, match="malformed case"):
        case_from_json(answer)


def test_fields_of_older_servers_may_be_absent() -> None:
    doc = good()
    for field in ("assigned_to", "followups", "tag_events", "envelope"):
        doc.pop(field, None)
    case = case_from_json(doc)
    assert (case.assigned_to, case.followups, case.tag_events, case.envelope) == (None, 0, (), None)
