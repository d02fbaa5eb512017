"""Everything alert-side of the bot: content-free alerts to volunteers, "I'm on it", enrolment,
escalation, the daily digest, retention and roster notices, and sending what is owed to them.

Nothing here sees what a person typed: alerts carry a short case reference, the queue and the
form's alert-safe choice labels (docs/alerts.md).
"""
