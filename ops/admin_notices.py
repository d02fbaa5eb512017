"""What the server check (doctor) found, told to admins through the bot: counts and check names, once per change.

`waystation doctor --notify-admins` (the monitoring timer in deploy/) queues one notice row for
each volunteer enrolled with admin notices; the running bot sends it like any other notice.
The same problems are not told again, except that errors are repeated once a day while they
last; nor are fewer of them once no error is left (the errors were fixed, warnings remain); when
every check passes the record is cleared, so the next problem is told at once.
Check names are fixed words (roster, database, bot-api ...): nothing else of a finding is sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum

from storage.alerts import AlertStore, MessageKind
from storage.db import Database
from storage.volunteers import VolunteerStore

#: meta key: the problems last told ("level:check", sorted) and when (coarse).
TOLD_KEY = "doctor_notice"
#: Errors still there are told again after this long; warnings only when they change.
REPEAT_ERRORS_SECONDS = 86_400


class Told(StrEnum):
    """What `notify_admins` did."""

    QUEUED = "queued"          # a notice is owed to every admin volunteer
    ALREADY = "already-told"   # the same problems were told (errors: within the day)
    NO_ADMINS = "no-admins"    # nobody is enrolled with admin notices: nobody could be told
    CLEARED = "cleared"        # no problem now; the record of the last notice was cleared
    NOTHING = "nothing"        # no problem, nothing recorded


def notify_admins(db: Database, problems: Iterable[tuple[str, str]], now: int) -> tuple[Told, int]:
    """Queue a notice of `problems` ((level, check) of each finding) for the admins, unless already told.

    Returns what was done and to how many admins.
    """
    findings = list(problems)
    found = sorted({f"{level}:{check}" for level, check in findings})
    told = _told(db)
    if not found:
        if told is None:
            return Told.NOTHING, 0
        with db.transaction() as conn:
            conn.execute("DELETE FROM meta WHERE key = ?", (TOLD_KEY,))
        return Told.CLEARED, 0
    errors = sorted({p.split(":", 1)[1] for p in found if p.startswith("error:")})
    warnings = sorted({p.split(":", 1)[1] for p in found if p.startswith("warning:")})
    if told is not None and told[0] == found and (not errors or now - told[1] < REPEAT_ERRORS_SECONDS):
        return Told.ALREADY, 0
    if told is not None and not errors and set(found) < set(told[0]):
        # Some problems were fixed and no error is left: nothing new to tell. What remains is
        # recorded, so that a problem fixed now and back later is told again.
        with db.transaction() as conn:
            db.set_meta(conn, TOLD_KEY, json.dumps({"problems": found, "at": told[1]}))
        return Told.ALREADY, 0
    admins = [v.id for v in VolunteerStore(db).admins()]
    if not admins:
        return Told.NO_ADMINS, 0  # not recorded: an admin enrolled later is told at the next run
    checks = ", ".join(dict.fromkeys([*errors, *warnings]))
    counts = {"errors": sum(level == "error" for level, _ in findings),
              "warnings": sum(level == "warning" for level, _ in findings)}
    AlertStore(db).owe(admins, MessageKind.NOTICE, {"notice": "doctor", **counts, "checks": checks}, now)
    with db.transaction() as conn:
        db.set_meta(conn, TOLD_KEY, json.dumps({"problems": found, "at": db.coarse(now)}))
    return Told.QUEUED, len(admins)


def _told(db: Database) -> tuple[list[str], int] | None:
    text = db.meta(TOLD_KEY)
    try:
        value = json.loads(text) if text is not None else None
        return ([str(p) for p in value["problems"]], int(value["at"])) if isinstance(value, dict) else None
    except (ValueError, KeyError, TypeError):
        return None
