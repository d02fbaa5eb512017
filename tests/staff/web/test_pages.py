"""The desk's pages and actions in-process, over a real RemoteDesk and the live staff API."""

from __future__ import annotations

import time

from intake.followups import add_follow_up
from staff.remote import RemoteStaff
from tests.staff.conftest import REQUEST_CANARY, reference_hash
from tests.staff.test_grants import join
from tests.staff.web.conftest import WebDesk, web_desk


def test_the_inbox_lists_and_searches_the_decrypted_text(web: WebDesk) -> None:
    web.enter()
    inbox = web.client.get("/").text
    assert web.site.cases["main"][:8] in inbox and web.site.cases["main-2"][:8] in inbox
    assert web.site.cases["other"][:8] not in inbox  # cas-main is not in queue 'other'
    found = web.client.get("/", params={"q": REQUEST_CANARY.upper()}).text
    assert web.site.cases["main"][:8] in found and web.site.cases["main-2"][:8] not in found
    assert web.site.cases["main"][:8] not in web.client.get("/", params={"q": "no-such-words"}).text


def test_filters_by_urgency_and_claimed(web: WebDesk) -> None:
    web.enter()
    urgent = web.client.get("/", params={"urgency": "now"}).text
    assert web.site.cases["main"][:8] in urgent and web.site.cases["main-2"][:8] not in urgent
    assert web.site.cases["main"][:8] not in web.client.get("/", params={"claimed": "me"}).text


def test_claim_note_preview_reply_close_reopen(web: WebDesk) -> None:
    web.enter()
    case = web.site.cases["main"]
    assert web.post(f"/case/{case}/claim").status_code == 303
    page = web.client.get(f"/case/{case}").text
    assert "cas-main" in page and REQUEST_CANARY in page
    web.post(f"/case/{case}/note", text="note-canary-1")
    preview = web.post(f"/case/{case}/preview", text="  reply-canary-2\u202e  ")
    assert preview.status_code == 200
    assert "notice-ru" in preview.text and "show-ru" in preview.text and "Русский" in preview.text
    assert 'id="preview-text">reply-canary-2</div>' in preview.text  # cleaned exactly as it will be sealed
    assert "Send this reply" in preview.text
    web.post(f"/case/{case}/reply", text="reply-canary-2")
    web.post(f"/case/{case}/close")
    history = web.client.get(f"/case/{case}").text
    assert "note-canary-1" in history and "reply-canary-2" in history and "delivery: queued" in history
    assert 'id="reopen"' in history
    web.post(f"/case/{case}/reopen")
    with web.site.remote("cas-main-2") as colleague:
        assert _status(colleague, case) == "claimed"  # reopened to whoever had it


def _status(client: RemoteStaff, case: str) -> str:
    return next(v.case.status.value for v in client.list(None) if v.case.id == case)


def test_an_empty_reply_cannot_be_sent_from_the_preview(web: WebDesk) -> None:
    web.enter()
    preview = web.post(f"/case/{web.site.cases['main']}/preview", text=" \n\t ")
    assert "Send this reply" not in preview.text


def test_a_refused_action_says_why_on_the_case_page(web: WebDesk) -> None:
    web.enter()
    case = web.site.cases["main-2"]  # came through the CLI: nobody to reply to
    answer = web.post(f"/case/{case}/reply", text="hello")
    assert answer.status_code == 303
    assert "nobody to reply to" in web.client.get(f"/case/{case}").text


def test_an_unknown_case_goes_back_to_the_inbox_with_the_reason(web: WebDesk) -> None:
    web.enter()
    answer = web.client.get("/case/zzzzzzzz", follow_redirects=True)
    assert answer.url.path == "/" and 'role="status"' in answer.text


def test_the_interface_speaks_russian_by_accept_language_or_the_switch(web: WebDesk) -> None:
    web.enter()
    assert "Входящие" in web.client.get("/", headers={"accept-language": "ru-RU,ru;q=0.9,en;q=0.5"}).text
    web.post("/language", lang="ru", back="/help")
    assert "Входящие" in web.client.get("/").text
    web.post("/language", lang="en", back="/")
    assert "Inbox" in web.client.get("/").text


def test_assign_and_tags_from_the_case_page(web: WebDesk) -> None:
    web.enter()
    case = web.site.cases["main"]
    web.client.get("/")  # lists cases and colleagues
    page = web.client.get(f"/case/{case}").text
    assert '<option value="cas-main-2"' in page and '<option value="cas-other"' not in page  # only this queue
    web.post(f"/case/{case}/assign", name="cas-main-2")
    web.post(f"/case/{case}/tag", tag="  needs-lawyer ")
    web.post(f"/case/{case}/tag", tag="visa")
    web.post(f"/case/{case}/untag", tag="visa")
    page = web.client.get(f"/case/{case}").text
    assert 'id="assigned-to">cas-main-2<' in page
    assert '<span class="tag">needs-lawyer</span>' in page and "Remove “visa”" not in page
    assert "→ cas-main-2" in page  # the assignment in the history
    inbox = web.client.get("/", params={"tag": "needs-lawyer"}).text
    assert case[:8] in inbox and web.site.cases["main-2"][:8] not in inbox
    assert case[:8] in web.client.get("/", params={"q": "NEEDS-LAWYER"}).text
    with web.site.remote("cas-main-2") as colleague:
        assert next(v for v in colleague.list(None) if v.case.id == case).tags == frozenset({"needs-lawyer"})


def test_assigning_to_someone_outside_the_queue_is_refused_with_the_reason(web: WebDesk) -> None:
    web.enter()
    case = web.site.cases["main"]
    web.post(f"/case/{case}/assign", name="cas-other")
    page = web.client.get(f"/case/{case}").text
    assert 'id="assigned-to">–<' in page and 'class="flash"' in page


def test_the_desk_offers_a_grant_to_a_newcomer_and_makes_it(web: WebDesk) -> None:
    web.enter()
    join(web.site, "cas-new")
    web.post("/refresh")
    inbox = web.client.get("/").text
    assert "cas-new cannot read 2 open cases" in inbox
    web.post("/grant", name="cas-new", back="/")
    after = web.client.get("/").text
    assert "Granted 2 open cases." in after and "cas-new cannot read" not in after
    with web.site.remote("cas-new") as newcomer:
        readable = next(v for v in newcomer.list(None) if v.case.id == web.site.cases["main"])
        assert REQUEST_CANARY in str(readable.request)


def test_every_desk_message_has_a_russian_translation_with_the_same_placeholders() -> None:
    import re

    from babel.messages.pofile import read_po

    from staff.web.i18n import LOCALE_DIR

    with (LOCALE_DIR / "ru" / "LC_MESSAGES" / "desk.po").open("rb") as handle:
        catalogue = read_po(handle, locale="ru")
    with (LOCALE_DIR / "desk.pot").open("rb") as handle:
        template = read_po(handle)
    placeholders = re.compile(r"%\(\w+\)s")
    for message in template:
        if not message.id:
            continue
        translated = catalogue.get(message.id)
        assert translated is not None and translated.string and not translated.fuzzy, message.id
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [translated.string] if isinstance(translated.string, str) else list(translated.string)
        assert all(strings), message.id
        wanted = set(placeholders.findall(ids[-1]))
        assert all(set(placeholders.findall(s)) == wanted for s in strings), message.id


def test_a_follow_up_shows_as_unread_until_the_case_is_opened(web: WebDesk) -> None:
    web.enter()
    case = web.site.cases["main"]
    web.client.get(f"/case/{case}")
    with web.site.open() as server:
        add_follow_up(server, reference_hash(web.site, "main"), "follow-up-canary-Kp2", "ru", int(time.time()))
    web.post("/refresh")
    unread = web.client.get("/", params={"unread": "1"}).text
    assert case[:8] in unread and "1 new follow-up" in unread and web.site.cases["main-2"][:8] not in unread
    assert "follow-up-canary-Kp2" in web.client.get(f"/case/{case}").text
    assert case[:8] not in web.client.get("/", params={"unread": "1"}).text


def test_statistics_page_with_charts_and_the_csv_the_cli_prints(web: WebDesk) -> None:
    web.enter()
    web.post(f"/case/{web.site.cases['main']}/claim")
    page = web.client.get("/stats", params={"weeks": "4"})
    assert page.status_code == 200 and page.text.count('<svg class="chart" role="img"') == 4
    assert "<title" in page.text and "Cases per week" in page.text
    assert ">2<" in page.text  # two cases of queue main (cas-main does not see 'other')
    assert "<script" not in page.text.split("</head>", 1)[1]
    csv = web.client.get("/stats.csv", params={"weeks": "4"})
    assert csv.headers["content-disposition"].startswith('attachment; filename="waystation-stats-')
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.splitlines()
    assert lines[0] == "week,queue,status,urgency,count"
    assert sum(int(line.rsplit(",", 1)[1]) for line in lines[1:]) == 2
    assert REQUEST_CANARY not in csv.text and REQUEST_CANARY not in page.text
    assert any(line.endswith(",claimed,now,1") for line in lines)  # urgency: the answer this desk decrypted


def test_handover_export_is_sealed_and_the_colleague_imports_it(web: WebDesk) -> None:
    web.enter()
    case = web.site.cases["main"]
    web.post(f"/case/{case}/note", text="handover-note-canary-Vb7")
    form = web.client.get("/handover", params={"case": case}).text
    assert f'value="{case}" checked' in form and '<option value="cas-main-2">' in form
    assert '<option value="cas-other">' not in form  # colleagues who share a queue with me
    sealed = web.client.post("/export", data={"token": web.gate.form_token, "case": [case], "to": "cas-main-2"})
    assert sealed.status_code == 200 and sealed.headers["content-type"] == "application/octet-stream"
    assert sealed.headers["content-disposition"].startswith('attachment; filename="waystation-handover-')
    for canary in (REQUEST_CANARY, "handover-note-canary-Vb7"):
        assert canary.encode() not in sealed.content
    with web_desk(web.site, "cas-main-2") as colleague:
        colleague.enter()
        opened = colleague.client.post("/import", params={"token": colleague.gate.form_token},
                                       content=sealed.content, headers={"content-type": "application/octet-stream"})
        assert opened.status_code == 200
        assert REQUEST_CANARY in opened.text and "handover-note-canary-Vb7" in opened.text
        assert "From cas-main" in opened.text
    # Not for me: cas-main cannot open what was sealed to cas-main-2; a flipped byte is refused too.
    mine = web.client.post("/import", params={"token": web.gate.form_token}, content=sealed.content)
    assert mine.status_code == 400 and REQUEST_CANARY not in mine.text
    flipped = bytearray(sealed.content)
    flipped[len(flipped) // 2] ^= 1
    with web_desk(web.site, "cas-main-2") as colleague:
        colleague.enter()
        refused = colleague.client.post("/import", params={"token": colleague.gate.form_token}, content=bytes(flipped))
        assert refused.status_code == 400 and REQUEST_CANARY not in refused.text


def test_an_export_needs_cases_and_an_active_colleague_of_their_queue(web: WebDesk) -> None:
    web.enter()
    case = web.site.cases["main"]
    nothing = web.client.post("/export", data={"token": web.gate.form_token, "to": "cas-main-2"},
                              follow_redirects=True)
    assert "Choose at least one case and a colleague." in nothing.text
    wrong = web.client.post("/export", data={"token": web.gate.form_token, "case": [case], "to": "cas-other"},
                            follow_redirects=True)
    assert wrong.url.path == "/handover" and 'class="flash"' in wrong.text and "cas-other" in wrong.text


def test_import_needs_the_session_token_and_a_sane_size(web: WebDesk) -> None:
    web.enter()
    assert web.client.post("/import", content=b"x").status_code == 403
    assert web.client.post("/import", params={"token": "guess"}, content=b"x").status_code == 403
    big = web.client.post("/import", params={"token": web.gate.form_token}, content=b"x" * (16 * 1024 * 1024 + 1))
    assert big.status_code == 413
