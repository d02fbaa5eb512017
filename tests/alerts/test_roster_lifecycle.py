"""A home through 400 days on the bot's clock: the notices ask, an admin renews, intake never stops.

The real bot (tests/alerts/harness.py) on a FakeClock moved one day at a time; each day a request
is sealed and stored as the bot stores it (intake.requests, a cheap reference hash), and the
admin's chat is read for notices. The admin renews with storage.rosterlife.renew, the function
behind `waystation roster renew`, when a notice says the roster expires tomorrow; once the
notice is left unanswered so that the roster runs into its grace period.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bot import texts
from crypto.envelope import Kind, verify
from crypto.keys import key_id
from crypto.reference import REFERENCE_COST_MINIMUM
from crypto.roster import DAY, sign_roster
from intake.requests import (
    Request,
    new_ticket,
    recipients_for,
    seal_request,
    store_sealed,
)
from storage.rosterlife import Phase, date, renew
from storage.server import Server
from tests.alerts.conftest import WorldFactory
from tests.alerts.harness import TR, World
from tests.bot.harness import Person

pytestmark = pytest.mark.timeout(1200)
DAYS = 400

ROSTER = {"valid_days": 180, "member_days": 365, "grace_days": 30}
#: No per-chat pacing: a year of daily digests and notices to one chat is not a test of the rate limiter.
TELEGRAM = {"max_messages_per_minute_per_chat": 60000}
EXPIRING = re.compile(re.escape(TR.gettext("en", texts.NOTICE_ROSTER_EXPIRING)).replace(r"\{date\}", r"(\S+)")
                      .replace(r"\{days\}", r"(\d+)"))
#: The members notice, in its singular and its plural form.
MEMBERS = [re.compile(re.escape(TR.ngettext("en", texts.NOTICE_MEMBERS_EXPIRING, n)).replace(r"\{count\}", r"(\d+)")
                      .replace(r"\{date\}", r"(\S+)")) for n in (1, 2)]
GRACE = TR.gettext("en", texts.NOTICE_ROSTER_GRACE).split("{", 1)[0]
ONE_ADMIN = TR.gettext("en", texts.NOTICE_ONE_ADMIN)


def _intake(server: Server, now: int) -> set[bytes]:
    """One request sealed and stored as the bot does it, then closed (so no 'unclaimed' notice); its recipients."""
    ticket = new_ticket(server.pepper(), reply_key=False, cost=REFERENCE_COST_MINIMUM)
    sealed = seal_request(Request({"help": "shelter"}, "en", "telegram"), queue="main",
                          recipients=recipients_for(server, "main", now), bot=server.bot_identity(),
                          pepper=server.pepper(), now=now, ticket=ticket)
    receipt = store_sealed(server, sealed, now)
    header = verify(sealed.envelope, trusted_signers=server.trusted_bot_keys(), case_id=receipt.case_id,
                    queue="main", kinds={Kind.REQUEST})
    server.cases.close(receipt.case_id, "cas-main", now)
    return {bytes(k) for k in header.recipients}


class Inbox:
    """The admin's chat: the messages not read yet."""

    def __init__(self, person: Person) -> None:
        self.person = person
        self.seen: set[int] = set()

    def new(self) -> list[str]:
        fresh = [m for m in self.person.bot_messages() if m["message_id"] not in self.seen]
        self.seen.update(m["message_id"] for m in fresh)
        return [str(m.get("text") or "") for m in fresh]


def test_a_home_runs_400_days_renewing_when_asked_and_intake_works_every_day(world: WorldFactory) -> None:
    w: World = world(roster=ROSTER, telegram=TELEGRAM)
    admin = Inbox(w.volunteer(admin_notices=True))
    admin.new()
    staff = w.staffed
    expected = {bytes(key_id(staff.staff[n].box_private.public_key)) for n in ("cas-main", "cas-main-2")}
    start = w.now()
    expiring: Counter[tuple[str, int]] = Counter()  # (expiry date, days) -> notices
    members: list[tuple[int, str]] = []  # (day, first expiry date)
    grace_days: list[int] = []
    one_admin: list[int] = []
    renewals: list[tuple[int, bool, Phase]] = []
    unanswered = 2  # the second time the roster is about to expire, nobody answers
    with w.server() as server:
        for day in range(1, DAYS + 1):
            w.clock.advance(DAY)
            if day == 200:
                w.restart()  # between two notices: nothing is announced twice after a restart
            w.tick()
            now = w.now()
            assert _intake(server, now) == expected, f"day {day}"
            tomorrow, extend, in_grace = False, False, False
            for text in admin.new():
                if (found := EXPIRING.fullmatch(text)) is not None:
                    expiring[(found.group(1), int(found.group(2)))] += 1
                    tomorrow = tomorrow or found.group(2) == "1"
                elif (found := next((m for p in MEMBERS if (m := p.fullmatch(text))), None)) is not None:
                    members.append((day, found.group(2)))
                    extend = extend or found.group(2) <= date(now + 2 * DAY)
                elif text.startswith(GRACE):
                    grace_days.append(day)
                    in_grace = True
                elif text == ONE_ADMIN:
                    one_admin.append(day)
            if tomorrow:
                unanswered -= 1
            if (tomorrow and unanswered != 0) or extend or (in_grace and len(grace_days) == 3):
                phase = server.roster_standing(now).phase
                renew(server, staff.admin, now, members=extend)
                renewals.append((day, extend, phase))
                assert server.roster_standing(now).phase is Phase.VALID
    w.bot.stop()

    # Renewed the day before expiry (day 29), in the grace (day 211), the day before the members (day 364).
    assert [(d, m) for d, m, _ in renewals] == [(29, False), (211, False), (364, True)], renewals
    assert [p for _, _, p in renewals] == [Phase.VALID, Phase.GRACE, Phase.VALID]
    # Each of the three expiry dates announced at 14, 7 and 1 days, each exactly once.
    dates = sorted({d for d, _ in expiring})
    assert dates == [date(start + 30 * DAY), date(start + 209 * DAY), date(start + 365 * DAY)], expiring
    assert expiring == Counter({(d, n): 1 for d in dates for n in (14, 7, 1)}), expiring
    assert grace_days == [209, 210, 211]
    assert [d for d, _ in members] == [351, 358, 364] and {f for _, f in members} == {date(start + 365 * DAY)}
    assert one_admin[0] <= 2 and all(b - a == 7 for a, b in zip(one_admin, one_admin[1:], strict=False)), one_admin
    with w.server() as server:
        final = server.roster(w.now())
        assert final.expires == final.issued + 180 * DAY and final.issued - start - 364 * DAY < 3600
        assert all(m.expires > w.now() + 300 * DAY for m in final.members)


def test_admins_are_told_of_unreadable_cases_and_thin_queues_once_until_it_changes(world: WorldFactory) -> None:
    w: World = world(telegram=TELEGRAM)
    admin = Inbox(w.volunteer(admin_notices=True))
    first = w.case(queue="other")  # sealed to cas-other alone
    with w.server() as server:
        now = w.now()
        server.save_roster(sign_roster(server.roster(now).with_revoked("cas-other", now, 30), w.staffed.admin), now)
    admin.new()
    w.clock.advance(DAY)
    w.tick()

    def unreadable(count: int) -> str:
        return TR.ngettext("en", texts.NOTICE_UNREADABLE, count).format(count=count)

    thin = TR.gettext("en", texts.NOTICE_THIN_QUEUE).format(queue="other")
    seen = admin.new()
    assert unreadable(1) in seen and thin in seen, seen
    assert not any(first[:6] in text for text in seen)  # counts and queue names only
    w.tick()
    w.clock.advance(DAY)
    w.tick()
    assert not [t for t in admin.new() if t in (unreadable(1), thin)]  # unchanged: not repeated
    with w.server() as server:  # a second case sealed to cas-other alone (as if stored just before the revocation)
        ticket = new_ticket(server.pepper(), reply_key=False, cost=REFERENCE_COST_MINIMUM)
        store_sealed(server, seal_request(Request({"help": "x"}), queue="other", ticket=ticket,
                                          recipients=[w.staffed.staff["cas-other"].public], bot=server.bot_identity(),
                                          pepper=server.pepper(), now=w.now()), w.now())
    w.clock.advance(DAY)
    w.tick()
    assert [t for t in admin.new() if "cannot be read by any active caseworker" in t] == [unreadable(2)]
