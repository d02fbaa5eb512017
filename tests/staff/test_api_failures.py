"""A staff API request that fails inside: 500 with a fixed body, and a log line that names the code path only."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from staff.httpsig import sign_request
from tests.staff.conftest import Site


def test_an_internal_failure_is_logged_as_type_and_frames(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    # A damaged secrets/previous_bot_keys makes /info fail past every typed refusal.
    (site.root / "secrets" / "previous_bot_keys").write_text('{"format": "canary-Kq93", "keys": []}')
    with caplog.at_level(logging.ERROR, logger="waystation.staff_api"), httpx.Client() as client:
        # Not through site.send: its recorder holds every answer to the OpenAPI document, which
        # (rightly) promises no 500.
        request = client.build_request("GET", site.url + "/api/v1/info")
        sign_request(request, site.identity("cas-main").signing_key, b"", now=time.time())
        response = client.send(request)
    assert response.status_code == 500
    assert response.json() == {"error": "internal", "message": "the server failed; see its log"}
    (record,) = [r for r in caplog.records if r.name == "waystation.staff_api"]
    line = record.getMessage()
    assert line.startswith("staff API info failed: storage.errors.HomeInvalid at ")
    assert "staffapi/operations.py:" in line and ":info > " in line and "storage/keyring.py:" in line
    assert "canary-Kq93" not in line and "/tmp/" not in line
