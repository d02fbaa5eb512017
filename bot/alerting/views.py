"""What volunteers see: alerts, their final text, digests and admin notices, in the volunteer's language.

Every first line is neutral (it is what a notification preview shows), and no
text holds anything a person typed: case references are the first characters
of the staff-side case id, answers are the form's translated choice labels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import texts
from bot.form import Form
from bot.i18n import Translations
from bot.texts import Plural
from storage.alerts import Outcome
from storage.cases import CaseId

ON_IT = "k:"  # callback data prefix of "I'm on it", followed by the case id
SHORT_REF = 6
#: What a case id in callback data may look like (they are 16 characters of lower-case base32).
_CASE_ID = re.compile(r"[a-z0-9]{1,64}")


def short_ref(case_id: str) -> str:
    """The few characters volunteers and staff use to talk about a case (never the person's reference)."""
    return case_id[:SHORT_REF]


def pressed_case(data: str | None) -> CaseId | None:
    """The case id of an "I'm on it" press; None for anything malformed (the client chooses the data)."""
    if data is None or not data.startswith(ON_IT):
        return None
    case_id = data[len(ON_IT):]
    return CaseId(case_id) if _CASE_ID.fullmatch(case_id) else None


def render_alert(t: Translations, language: str, form: Form, case_id: str, queue: str,
                 answers: Mapping[str, str], reminder: bool) -> tuple[str, InlineKeyboardMarkup]:
    """An alert or reminder: a neutral first line, the translated alert-safe labels, the "I'm on it" button."""
    message = texts.ALERT_REMINDER if reminder else texts.ALERT
    lines = [t.gettext(language, message).format(short_ref=short_ref(case_id), queue=queue)]
    labels = []
    for question in form.questions:
        option = question.option(answers[question.id]) if question.alert_safe and question.id in answers else None
        if option is not None:
            labels.append(t.gettext(language, option.label))
    if labels:
        lines.append(" · ".join(labels))
    button = InlineKeyboardButton(t.gettext(language, texts.BUTTON_ON_IT), callback_data=ON_IT + case_id)
    return "\n".join(lines), InlineKeyboardMarkup([[button]])


def render_outcome(t: Translations, language: str, case_id: str, outcome: Outcome) -> str:
    """What an alert says once its case is taken (the answers and the button are gone)."""
    message = texts.ALERT_TAKEN_BY_YOU if outcome is Outcome.MINE else texts.ALERT_TAKEN
    return t.gettext(language, message).format(short_ref=short_ref(case_id))


def render_age(t: Translations, language: str, seconds: int) -> str:
    """A waiting time, coarse: minutes, hours or days."""
    minutes = max(0, seconds) // 60
    if minutes < 60:
        return t.gettext(language, texts.AGE_MINUTES).format(count=minutes)
    if minutes < 48 * 60:
        return t.gettext(language, texts.AGE_HOURS).format(count=minutes // 60)
    return t.gettext(language, texts.AGE_DAYS).format(count=minutes // 1440)


def _int(payload: Mapping[str, object], key: str) -> int:
    value = payload.get(key)
    return value if isinstance(value, int) else 0


def render_digest(t: Translations, language: str, payload: Mapping[str, object]) -> str:
    """A queue's daily summary (counts only)."""
    oldest = payload.get("oldest_age")
    waiting = (render_age(t, language, oldest) if isinstance(oldest, int)
               else t.gettext(language, texts.DIGEST_NONE_WAITING))
    return t.gettext(language, texts.DIGEST).format(
        queue=str(payload.get("queue", "")), new=_int(payload, "new"), claimed=_int(payload, "claimed"),
        closed=_int(payload, "closed"), oldest=waiting)


#: Admin notice kind -> its text; the payload's fields fill its placeholders.
_NOTICES: dict[str, str | Plural] = {
    "purge": texts.NOTICE_PURGE,
    "unclaimed": texts.NOTICE_UNCLAIMED,
    "roster_expiring": texts.NOTICE_ROSTER_EXPIRING,
    "members_expiring": texts.NOTICE_MEMBERS_EXPIRING,
    "roster_grace": texts.NOTICE_ROSTER_GRACE,
    "roster_expired": texts.NOTICE_ROSTER_EXPIRED,
    "roster_invalid": texts.NOTICE_ROSTER_INVALID,
    "unreadable": texts.NOTICE_UNREADABLE,
    "thin_queue": texts.NOTICE_THIN_QUEUE,
    "one_admin": texts.NOTICE_ONE_ADMIN,
    "doctor": texts.NOTICE_DOCTOR,
}


def render_notice(t: Translations, language: str, payload: Mapping[str, object]) -> str:
    """An admin notice (counts, dates, queue and check names only): retention, the roster's dates, who can
    read cases, what the server check found."""
    message = _NOTICES.get(str(payload.get("notice")), texts.NOTICE_PURGE)
    return t.text(language, message, _int(payload, "count")).format(
        count=_int(payload, "count"), days=_int(payload, "days"), date=str(payload.get("date", "")),
        until=str(payload.get("until", "")), queue=str(payload.get("queue", "")),
        errors=_int(payload, "errors"), warnings=_int(payload, "warnings"), checks=str(payload.get("checks", "")))
