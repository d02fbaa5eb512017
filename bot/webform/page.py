"""The page itself: its files, served only by this app, with headers that keep it from leaving traces.

Every response says `Cache-Control: no-store` (nothing of the form stays in the phone's cache) and
carries a strict Content-Security-Policy: scripts and styles only from this origin (their
integrity pinned in index.html), calls only to this origin, WebAssembly allowed for libsodium, no
plugins, no forms posted elsewhere, framed only by Telegram's web clients (and the local sandbox).
The files are read once at start-up into memory: what is served is what was installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot import texts
from bot.form import Form, QuestionKind
from bot.i18n import LANGUAGES, RIGHT_TO_LEFT, Translations, pick_language

STATIC = Path(__file__).with_name("static")
#: Telegram's web clients, which show Mini Apps in a frame (the mobile and desktop apps use a webview).
TELEGRAM_FRAMERS = ("https://web.telegram.org", "https://webk.telegram.org", "https://webz.telegram.org")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".json": "application/json"}
#: Files served (name under static/ -> type); anything else is 404.
SERVED = ("index.html", "style.css", "bridge.js", "seal.js", "app.js",
          "vendor/libsodium-sumo.js", "vendor/libsodium-wrappers-sumo.js")


def local_origin(url: str) -> str | None:
    """The origin of a plain-http URL on this machine (the sandbox's), which may frame the page too."""
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost") and parts.port:
        return f"http://{parts.hostname}:{parts.port}"
    return None


def security_headers(framers: tuple[str, ...]) -> dict[str, str]:
    """The headers of every page response."""
    csp = "; ".join([
        "default-src 'none'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors " + " ".join(framers),
    ])
    return {
        "Content-Security-Policy": csp,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        "Cross-Origin-Opener-Policy": "same-origin",
    }


class Files:
    """The page's files, in memory, each served with the security headers."""

    def __init__(self, framers: tuple[str, ...], root: Path = STATIC) -> None:
        self.headers = security_headers(framers)
        self.files = {name: (root / name).read_bytes() for name in SERVED}

    def response(self, name: str) -> Response:
        """One file, or 404 for a name not served."""
        data = self.files.get(name)
        if data is None:
            return Response(b"", 404, headers=self.headers)
        return Response(data, 200, media_type=_TYPES[Path(name).suffix], headers=self.headers)

    async def index(self, request: Request) -> Response:
        """GET /form/: the page (the launch data comes in the URL fragment, which never reaches a server)."""
        return self.response("index.html")

    async def static(self, request: Request) -> Response:
        """GET /form/static/{name}."""
        return self.response(str(request.path_params["name"]))


#: What the page shows besides the questions (message ids; translated per language by `form_json`).
PAGE_TEXTS: Mapping[str, str] = {
    "title": texts.PAGE_TITLE,
    "intro": texts.PAGE_INTRO,
    "start": texts.BUTTON_CONTINUE,
    "follow_up": texts.BUTTON_FOLLOW_UP,
    "delete": texts.BUTTON_DELETE_NOW,
    "skip": texts.BUTTON_SKIP,
    "next": texts.BUTTON_NEXT,
    "back": texts.BUTTON_BACK,
    "send": texts.BUTTON_SUBMIT,
    "cancel": texts.BUTTON_CANCEL,
    "close": texts.BUTTON_CLOSE,
    "change": texts.BUTTON_CHANGE,
    "progress": texts.QUESTION_PROGRESS,
    "too_long": texts.ANSWER_TOO_LONG,
    "empty": texts.PAGE_ANSWER_EMPTY,
    "review": texts.REVIEW,
    "skipped": texts.SKIPPED,
    "working": texts.PAGE_WORKING,
    "submitted": texts.PAGE_SUBMITTED,
    "failed": texts.SUBMIT_FAILED,
    "expired": texts.FORM_EXPIRED,
    "slow_down": texts.SLOW_DOWN,
    "ask_reference": texts.PAGE_ASK_REFERENCE,
    "reference_label": texts.PAGE_REFERENCE_LABEL,
    "no_replies": texts.PAGE_NO_REPLIES,
    "reply_heading": texts.PAGE_REPLY_HEADING,
    "ask_follow_up": texts.FOLLOW_UP_ASK_TEXT,
    "follow_up_done": texts.PAGE_FOLLOW_UP_DONE,
    "not_in_telegram": texts.PAGE_NOT_IN_TELEGRAM,
    "wiped": texts.PAGE_WIPED,
}


def form_json(form: Form, translations: Translations, language: str) -> dict[str, Any]:
    """The declarative form and the page's texts in one language, for the page to render."""
    def _(message: str) -> str:
        return translations.gettext(language, message)

    questions = [{
        "id": q.id,
        "kind": q.kind.value,
        "prompt": _(q.prompt),
        # label: shown, in the person's language; value: what the request carries (as the chat form's).
        "options": [{"id": o.id, "label": _(o.label), "value": o.label} for o in q.options],
        "max_length": q.max_length,
        "optional": q.optional,
        "alert_safe": q.alert_safe and q.kind is QuestionKind.CHOICE,
    } for q in form.questions]
    return {
        "language": language,
        "direction": "rtl" if language in RIGHT_TO_LEFT else "ltr",
        "languages": dict(LANGUAGES),
        "questions": questions,
        "texts": {key: _(message) for key, message in PAGE_TEXTS.items()},
    }


class FormData:
    """GET /form/api/form?lang=xx: the form in that language (public: the questions are no secret)."""

    def __init__(self, form: Form, translations: Translations, headers: dict[str, str]) -> None:
        self.form = form
        self.translations = translations
        self.headers = headers

    async def endpoint(self, request: Request) -> Response:
        """The form JSON."""
        language = pick_language(request.query_params.get("lang"))
        return JSONResponse(form_json(self.form, self.translations, language), headers=self.headers)
