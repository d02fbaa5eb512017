"""The desk's door: the one-time URL secret, the session cookie, forms, headers and the Host check."""

from __future__ import annotations

import pytest

from staff.web.app import CSP
from staff.web.gate import COOKIE
from tests.staff.web.conftest import HOST, WebDesk

PAGES = ["/", "/help", "/rows", "/static/desk.js", "/static/desk.css", "/unlock"]


def test_the_right_secret_gives_an_httponly_strict_cookie_and_the_inbox(web: WebDesk) -> None:
    answer = web.client.get(f"/s/{web.gate.url_secret}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    inbox = web.client.get("/")
    assert inbox.status_code == 200 and "Inbox" in inbox.text


def test_the_secret_works_once(web: WebDesk) -> None:
    secret = web.gate.url_secret
    web.enter()
    web.client.cookies.clear()
    again = web.client.get(f"/s/{secret}", follow_redirects=False)
    assert again.status_code == 404 and COOKIE not in again.headers.get("set-cookie", "")
    assert web.client.get("/").status_code == 403


@pytest.mark.parametrize("secret", ["", "x", "wrong-secret-of-a-plausible-length-000000000"])
def test_a_wrong_secret_is_refused_without_information(web: WebDesk, secret: str) -> None:
    answer = web.client.get(f"/s/{secret}", follow_redirects=False)
    assert answer.status_code in (403, 404)
    assert answer.text in ("Not Found", "Forbidden") and "set-cookie" not in answer.headers
    assert web.gate.used is False  # a wrong guess does not burn the right secret


@pytest.mark.parametrize("path", PAGES)
def test_without_the_cookie_every_page_is_refused(web: WebDesk, path: str) -> None:
    answer = web.client.get(path, follow_redirects=False)
    assert answer.status_code == 403 and answer.text == "Forbidden"


def test_a_forged_cookie_is_refused(web: WebDesk) -> None:
    web.enter()
    web.client.cookies.set(COOKIE, "forged")
    assert web.client.get("/").status_code == 403


def test_every_answer_has_the_strict_csp_and_no_store(web: WebDesk) -> None:
    answers = [web.client.get("/s/wrong"), web.client.get("/")]
    web.enter()
    answers += [web.client.get(p) for p in PAGES]
    answers.append(web.client.post("/heartbeat", data={"token": "wrong"}))
    for answer in answers:
        assert answer.headers["content-security-policy"] == CSP
        assert answer.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP and "default-src 'self'" in CSP


def test_pages_have_no_inline_script_and_load_only_local_files(web: WebDesk) -> None:
    web.enter()
    html = web.client.get("/").text + web.client.get("/help").text
    assert "<script>" not in html and "onclick" not in html.lower() and "style=" not in html
    assert "http://" not in html.replace(f"http://{HOST}", "") and "https://" not in html


def test_a_form_without_the_session_token_is_refused(web: WebDesk) -> None:
    web.enter()
    case = web.site.cases["main"]
    answer = web.client.post(f"/case/{case}/claim", data={"token": "guess"}, follow_redirects=False)
    assert answer.status_code == 403
    assert web.client.post(f"/case/{case}/claim", data={}, follow_redirects=False).status_code == 403


def test_a_cross_site_post_is_refused_even_with_the_cookie(web: WebDesk) -> None:
    web.enter()
    answer = web.client.post("/lock", data={"token": web.gate.form_token}, headers={"origin": "https://evil.example"},
                             follow_redirects=False)
    assert answer.status_code == 403 and not web.app.state.locked


def test_another_host_name_is_refused(web: WebDesk) -> None:
    # A DNS-rebinding page reaches 127.0.0.1 under its own name: the Host header gives it away.
    web.enter()
    assert web.client.get("/", headers={"host": "rebind.example:8123"}).status_code == 403
