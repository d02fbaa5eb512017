"""The OpenAPI 3.1 document of the staff API, served at /openapi.json.

Kept true by tests/staff/test_openapi.py: every route is documented and every
documented operation routed, every status a test sees is documented for its
operation, every JSON answer validates against its schema, and schemathesis
fuzzes the served document against the live server.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

B64 = {"type": "string", "contentEncoding": "base64", "description": "standard base64 (RFC 4648 section 4), padded"}
CASE_ID = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"}
QUEUE = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}
TIME = {"type": "integer", "description": "seconds since the Unix epoch"}
NULLABLE_TIME = {"type": ["integer", "null"]}

ERROR_CODES = [
    "unsigned", "signature_invalid", "signature_expired", "replayed", "not_active", "forbidden", "not_found",
    "conflict", "too_large", "invalid_body", "stale_recipients", "grant_refused",
    "assignee_refused", "unavailable", "rate_limited",
]

DESCRIPTIONS = {
    "401": "Unsigned, malformed or bad signature; `created` outside the window; replayed nonce; unknown, revoked "
           "or expired key.",
    "403": "A known, active key whose role or queues do not allow this.",
    "404": "No such case in the caller's queues (the same answer whether it exists elsewhere or not at all).",
    "409": "The case's status does not allow this change.",
    "413": "The body is over 256 KiB.",
    "422": "Malformed JSON, fields, query, base64, envelope or grant; nothing was stored.",
    "429": "Over the request budget of the key named (or, for requests no staff key vouches for, of the "
           "address); nothing was checked further. Retry-After says when to try again.",
    "503": "The server's roster does not verify; nothing can be authorised.",
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


RETRY_AFTER: Schema = {"Retry-After": {"description": "whole seconds to wait before trying again",
                                       "schema": {"type": "integer", "minimum": 1}}}


def _errors(*codes: str) -> dict[str, Schema]:
    errors = {code: _json(_ref("Error"), DESCRIPTIONS[code]) for code in ("401", *codes, "413", "429", "503")}
    errors["429"]["headers"] = RETRY_AFTER
    return errors


def _operation(op_id: str, summary: str, ok: tuple[str, Schema, str], errors: tuple[str, ...],
               body: tuple[str, bool] | None = None, parameters: list[Schema] | None = None) -> Schema:
    status, schema, description = ok
    operation: Schema = {
        "operationId": op_id,
        "summary": summary,
        "parameters": parameters or [],
        "responses": {status: _json(schema, description), **_errors(*errors)},
    }
    if body is not None:
        name, required = body
        operation["requestBody"] = {"required": required, "content": {"application/json": {"schema": _ref(name)}}}
    return operation


CASE_PATH_PARAMETER: Schema = {"name": "case_id", "in": "path", "required": True, "schema": CASE_ID}
_ACTION_ERRORS = ("403", "404", "409", "422")


def _action(op_id: str, summary: str) -> Schema:
    return {"post": _operation(op_id, summary, ("200", _ref("CaseAnswer"), "The case after the change."),
                               _ACTION_ERRORS, ("Empty", False), [CASE_PATH_PARAMETER])}


SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object", "additionalProperties": False, "required": ["error", "message"],
        "properties": {"error": {"type": "string", "enum": ERROR_CODES}, "message": {"type": "string"}},
    },
    "Case": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "queue", "status", "created_at", "updated_at", "claimed_by", "claimed_at", "closed_at"],
        "properties": {
            "id": CASE_ID, "queue": QUEUE, "status": {"type": "string", "enum": ["new", "claimed", "closed"]},
            "created_at": TIME, "updated_at": TIME, "claimed_by": {"type": ["string", "null"]},
            "claimed_at": NULLABLE_TIME, "closed_at": NULLABLE_TIME,
            "envelope": {**B64, "description": "the request envelope (kind 1, signed by the bot)"},
            "assigned_to": {"type": ["string", "null"], "description": "the roster name it is assigned to"},
            "followups": {"type": "integer", "minimum": 0, "description": "follow-ups the person sent"},
            "tag_events": {"type": "array", "items": _ref("Event"),
                           "description": "with envelopes only: the case's sealed tag and untag events, in order"},
        },
    },
    "Event": {
        "type": "object", "additionalProperties": False,
        "required": ["id", "kind", "actor", "created_at", "envelope", "delivery"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": ["claim", "note", "follow_up", "reply", "close", "reopen", "ack",
                                                "assign", "tag", "untag"]},
            "subject": {"type": ["string", "null"], "description": "assign events: the roster name assigned"},
            "actor": {"type": "string"}, "created_at": TIME,
            "envelope": {"oneOf": [B64, {"type": "null"}]},
            "delivery": {
                "type": ["string", "null"],
                "enum": ["queued", "notified", "read", "expired", "undeliverable", "rejected", None],
                "description": "replies only: queued (waiting for its notice), notified (the neutral notice went "
                               "out), read (the person gave their reference and received it), expired (unread "
                               "after [replies] expire_after_days: erased), undeliverable (Telegram refused the "
                               "chat: no notice, still readable by reference), rejected (the bot refused it: "
                               "erased); null for other events and for replies older than delivery states",
            },
        },
    },
    "CaseAnswer": {
        "type": "object", "additionalProperties": False, "required": ["case"],
        "properties": {"case": _ref("Case")},
    },
    "CaseWithEvents": {
        "type": "object", "additionalProperties": False, "required": ["case", "events"],
        "properties": {"case": _ref("Case"), "events": {"type": "array", "items": _ref("Event")}},
    },
    "CaseList": {
        "type": "object", "additionalProperties": False, "required": ["cases"],
        "properties": {"cases": {"type": "array", "items": _ref("Case")},
                       "remaining": {"type": "integer", "minimum": 0,
                                     "description": "with limit only: how many cases follow this page"}},
    },
    "PublicKeys": {
        "type": "object", "additionalProperties": False, "required": ["name", "sign", "box"],
        "properties": {"name": {"type": "string"}, "sign": B64, "box": B64},
    },
    "Info": {
        "type": "object", "additionalProperties": False,
        "required": ["bot", "previous_bot_signing_keys", "roster", "me"],
        "properties": {
            "bot": _ref("PublicKeys"),
            "previous_bot_signing_keys": {"type": "array", "items": B64},
            "roster": {**B64, "description": "the exact bytes of roster.json; verify them against pinned admin keys"},
            "me": {
                "type": "object", "additionalProperties": False, "required": ["name", "role", "queues"],
                "properties": {"name": {"type": "string"},
                               "role": {"type": "string", "enum": ["admin", "caseworker", "volunteer"]},
                               "queues": {"type": "array", "items": QUEUE}},
            },
        },
    },
    "Empty": {"type": "object", "additionalProperties": False, "maxProperties": 0},
    "NoteBody": {
        "type": "object", "additionalProperties": False, "required": ["envelope"],
        "properties": {"envelope": {**B64, "description": "kind 2 (note), sealed to the queue's active caseworkers"}},
    },
    "ReplyBody": {
        "type": "object", "additionalProperties": False, "required": ["to_bot", "to_person", "copy"],
        "properties": {
            "to_bot": {**B64, "description": "kind 5 (delivery: reply handle, its tag, language), sealed to the "
                                             "bot's current encryption key only"},
            "to_person": {**B64, "description": "kind 4 (reply), sealed to the person's reply key alone (the "
                                                "request's reply_key)"},
            "copy": {**B64, "description": "kind 4 (reply), sealed to the queue's active caseworkers"},
        },
    },
    "EventCreated": {
        "type": "object", "additionalProperties": False, "required": ["event_id"],
        "properties": {"event_id": {"type": "integer"}},
    },
    "GrantBody": {
        "type": "object", "additionalProperties": False, "required": ["grant"],
        "properties": {"grant": {**B64, "description": "a grant (docs/envelope.md, Grants) signed by the caller, "
                                                       "to an active caseworker of the case's queue"}},
    },
    "GrantStored": {
        "type": "object", "additionalProperties": False, "required": ["case_id"],
        "properties": {"case_id": CASE_ID},
    },
    "CaseGrants": {
        "type": "object", "additionalProperties": False, "required": ["grants"],
        "properties": {"grants": {"type": "array", "items": B64,
                                  "description": "grants of this case addressed to the caller's key (unverified)"}},
    },
    "MyGrants": {
        "type": "object", "additionalProperties": False, "required": ["grants"],
        "properties": {"grants": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["case_id", "grant"],
            "properties": {"case_id": CASE_ID, "grant": B64}}}},
    },
    "AssignBody": {
        "type": "object", "additionalProperties": False, "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1,
                                "description": "roster name of an active caseworker of the case's queue"}},
    },
    "TagBody": {
        "type": "object", "additionalProperties": False, "required": ["envelope", "op"],
        "properties": {
            "envelope": {**B64, "description": "kind 2 (as a note), sealed to the queue's active caseworkers; its "
                                               "payload {\"v\":1,\"op\",\"tag\"} repeats op"},
            "op": {"type": "string", "enum": ["add", "remove"]},
        },
    },
    "Members": {
        "type": "object", "additionalProperties": False, "required": ["members"],
        "properties": {"members": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "granted"],
            "properties": {"name": {"type": "string"},
                           "granted": {"type": "array", "items": CASE_ID,
                                       "description": "cases of the shared queues holding a grant to them"}}}}},
    },
    "CaseTimes": {
        "type": "object", "additionalProperties": False, "required": ["cases"],
        "properties": {"cases": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "queue", "status", "created_at", "first_claim_at", "first_reply_at"],
            "properties": {"id": CASE_ID, "queue": QUEUE, "status": {"type": "string",
                                                                     "enum": ["new", "claimed", "closed"]},
                           "created_at": TIME, "first_claim_at": NULLABLE_TIME, "first_reply_at": NULLABLE_TIME}}}},
    },
    "ReplyQueued": {
        "type": "object", "additionalProperties": False, "required": ["outbox_id"],
        "properties": {"outbox_id": {"type": "integer"}},
    },
}

LIST_PARAMETERS: list[Schema] = [
    {"name": "status", "in": "query", "required": False, "description": "comma-separated: new, claimed, closed",
     "schema": {"type": "string", "pattern": "^(new|claimed|closed)(,(new|claimed|closed))*$"}},
    {"name": "queue", "in": "query", "required": False, "description": "one of the caller's queues",
     "schema": QUEUE},
    {"name": "envelopes", "in": "query", "required": False, "description": "1 to include request envelopes",
     "schema": {"type": "string", "enum": ["0", "1", "true", "false"]}},
    {"name": "limit", "in": "query", "required": False, "description": "at most this many cases (1..100000)",
     "schema": {"type": "string", "pattern": "^[0-9]{1,6}$"}},
    {"name": "after", "in": "query", "required": False,
     "description": "continue after this case: <created_at>.<case id> of the last case of the page before",
     "schema": {"type": "string", "pattern": "^[0-9]{1,12}[.][a-z0-9][a-z0-9-]{0,63}$"}},
]

DOCUMENT: Schema = {
    "openapi": "3.1.0",
    "info": {
        "title": "Waystation staff API",
        "version": "1.0.0",
        "description": "Ciphertext out, signed commands in. Every /api/v1 request carries an RFC 9421 HTTP "
                       "Message Signature (label ws, tag waystation-staff, Ed25519) as docs/staff-api.md "
                       "specifies. All decryption happens in the staff client.",
    },
    "security": [{"httpMessageSignature": []}],
    "paths": {
        "/api/v1/info": {"get": _operation(
            "getInfo", "Bot keys, the signed roster and the caller's own entry",
            ("200", _ref("Info"), "Keys and roster; the client verifies and pins them."), ())},
        "/api/v1/cases": {"get": _operation(
            "listCases", "Cases of the caller's queues (envelopes for caseworkers only)",
            ("200", _ref("CaseList"), "Oldest first."), ("403", "422"), parameters=LIST_PARAMETERS)},
        "/api/v1/cases/{case_id}": {"get": _operation(
            "getCase", "One case with its request envelope and its events",
            ("200", _ref("CaseWithEvents"), "The case and its history."), ("403", "404"),
            parameters=[CASE_PATH_PARAMETER])},
        "/api/v1/cases/{case_id}/claim": _action("claimCase", "Claim a new case (atomic; the loser gets 409)"),
        "/api/v1/cases/{case_id}/take-over": _action(
            "takeOverCase", "Hand a case claimed by someone else to the caller (409 if it is new, closed or "
                            "already the caller's); recorded as a claim event, audited as case.take_over"),
        "/api/v1/cases/{case_id}/notes": {"post": _operation(
            "addNote", "Add a note sealed by the caller to the queue's caseworkers",
            ("201", _ref("EventCreated"), "Stored as a note event."), ("403", "404", "422"),
            ("NoteBody", True), [CASE_PATH_PARAMETER])},
        "/api/v1/cases/{case_id}/replies": {"post": _operation(
            "addReply", "Reply to the person: a delivery envelope for the bot, the reply to the person's key, "
                        "a copy for the caseworkers",
            ("202", _ref("ReplyQueued"), "In the outbox; the bot delivers it."), ("403", "404", "409", "422"),
            ("ReplyBody", True), [CASE_PATH_PARAMETER])},
        "/api/v1/cases/{case_id}/close": _action("closeCase", "Close a new or claimed case"),
        "/api/v1/cases/{case_id}/reopen": _action("reopenCase", "Reopen a closed case"),
        "/api/v1/cases/{case_id}/grants": {
            "get": _operation(
                "getCaseGrants", "Grants of one case addressed to the caller's key",
                ("200", _ref("CaseGrants"), "Possibly none; the client verifies each."), ("403", "404"),
                parameters=[CASE_PATH_PARAMETER]),
            "post": _operation(
                "addGrant", "Store a grant by the caller of this case's content keys to a colleague of its queue",
                ("201", _ref("GrantStored"),
                 "Stored (replacing the caller's earlier grant to that key); audited as case.grant."),
                ("403", "404", "422"), ("GrantBody", True), [CASE_PATH_PARAMETER]),
        },
        "/api/v1/cases/{case_id}/assign": {"post": _operation(
            "assignCase", "Assign a case to a named active caseworker of its queue (metadata, like a claim)",
            ("200", _ref("CaseAnswer"), "The case after the change; an assign event names the assignee."),
            _ACTION_ERRORS, ("AssignBody", True), [CASE_PATH_PARAMETER])},
        "/api/v1/cases/{case_id}/tags": {"post": _operation(
            "addTag", "Add or remove a tag, sealed like a note: the server sees neither the tag nor which",
            ("201", _ref("EventCreated"), "Stored as a tag or untag event."), ("403", "404", "422"),
            ("TagBody", True), [CASE_PATH_PARAMETER])},
        "/api/v1/members": {"get": _operation(
            "listMembers", "Caseworkers sharing a queue with the caller, with the cases granted to each",
            ("200", _ref("Members"), "Names as on the roster (verify it); grants unverified."), ("403",),
            parameters=[{"name": "queue", "in": "query", "required": False,
                         "description": "one of the caller's queues", "schema": QUEUE}])},
        "/api/v1/stats": {"get": _operation(
            "listCaseTimes", "Metadata of the caller's cases since a time, for statistics (nothing decrypted)",
            ("200", _ref("CaseTimes"), "Oldest first; coarse times; first claim counts assignments too."),
            ("403", "422"),
            parameters=[{"name": "since", "in": "query", "required": True,
                         "description": "seconds since the Unix epoch", "schema": {"type": "string",
                                                                                  "pattern": "^[0-9]{1,12}$"}}])},
        "/api/v1/grants": {"get": _operation(
            "listMyGrants", "Every grant addressed to the caller's key, for cases of the caller's queues",
            ("200", _ref("MyGrants"), "Possibly none; the client verifies each."), ("403",))},
        "/openapi.json": {"get": {
            "operationId": "getOpenApi", "summary": "This document (not signed)", "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {
                "schema": {"type": "object"}}}}},
        }},
    },
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "httpMessageSignature": {
                "type": "apiKey", "in": "header", "name": "Signature",
                "description": "RFC 9421 Signature and Signature-Input fields (plus Content-Digest for a body); "
                               "OpenAPI has no scheme for them, so this names the header only.",
            },
        },
    },
}


def document() -> Schema:
    """The OpenAPI document (the same object on every call; do not modify it)."""
    return DOCUMENT
