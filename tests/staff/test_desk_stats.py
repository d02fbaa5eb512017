"""Statistics from metadata: cases per ISO week by queue, status and urgency; times to first claim and reply."""

from __future__ import annotations

import time

import pytest

from model.cases import CaseId, CaseTimes, Status
from staff.errors import InputRejected
from staff.stats import build, iso_week, percentile, weeks_start
from tests.staff.conftest import Site, direct, remote
from tests.staff.test_api_refusals import assert_refused
from tests.staff.test_grants import join, staff_ok

MONDAY = 1_767_571_200  # 2026-01-05 00:00 UTC, a Monday (ISO week 2026-W02)


def test_weeks_are_iso_weeks_in_utc() -> None:
    assert iso_week(MONDAY) == "2026-W02" and iso_week(MONDAY - 1) == "2026-W01"
    assert iso_week(1_767_139_200) == "2026-W01"  # 2025-12-31 belongs to ISO week 1 of 2026
    assert weeks_start(MONDAY + 3 * 86_400 + 5, 1) == MONDAY
    assert weeks_start(MONDAY + 5, 3) == MONDAY - 14 * 86_400
    with pytest.raises(ValueError, match="weeks"):
        weeks_start(MONDAY, 0)


def test_rows_count_by_week_queue_status_and_known_urgency_and_csv_quotes_formulas() -> None:
    times = [CaseTimes(CaseId(f"case-{n:010d}"), "main", status, MONDAY + n * 3600, claim, reply)
             for n, (status, claim, reply) in enumerate([(Status.NEW, None, None),
                                                         (Status.CLAIMED, MONDAY + 7200, None),
                                                         (Status.CLOSED, MONDAY + 2 * 3600 + 600, MONDAY + 86_400)])]
    times.append(CaseTimes(CaseId("case-old0000000"), "main", Status.NEW, MONDAY - 1, None, None))
    stats = build(times, weeks=1, since=MONDAY, urgency={CaseId("case-0000000001"): "now",
                                                         CaseId("case-0000000002"): "=HYPERLINK()"})
    assert stats.total == 3  # the case before `since` is not counted
    assert [(r.status, r.urgency, r.count) for r in stats.rows] == [
        ("claimed", "now", 1), ("closed", "=HYPERLINK()", 1), ("new", "unknown", 1)]
    assert stats.first_claim_seconds == [3600.0, 600.0] and stats.first_reply_seconds == [86_400.0 - 7200]
    lines = stats.csv().splitlines()
    assert lines[0] == "week,queue,status,urgency,count"
    assert lines[2] == "2026-W02,main,closed,'=HYPERLINK(),1"  # a spreadsheet must not run it
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == 9.0
    assert percentile([], 0.9) is None


@pytest.mark.parametrize("mode", [remote, direct])
def test_desk_stats_from_metadata_with_urgency_once_decrypted(site: Site, mode: object) -> None:
    with mode(site, "cas-main") as desk:  # type: ignore[operator]
        desk.claim(site.cases["main"])
        desk.reply(site.cases["main"], "we read you")
        before = desk.stats(4)
        desk.list()
        after = desk.stats(4)
    assert before.total == 2 and {r.urgency for r in before.rows} == {"unknown"}  # urgency is not metadata
    assert {r.queue for r in before.rows} == {"main"}  # cas-main's queues only
    assert {(r.status, r.urgency) for r in after.rows} == {("claimed", "now"), ("new", "unknown")}
    assert len(after.first_claim_seconds) == 1 and len(after.first_reply_seconds) == 1
    assert all(r.week == iso_week(int(time.time())) or r.week < iso_week(int(time.time())) for r in after.rows)


def test_stats_agree_direct_and_remote(site: Site) -> None:
    with remote(site, "cas-main") as desk:
        desk.claim(site.cases["main-2"])
        by_remote = desk.stats()
    with direct(site, "cas-main") as desk:
        assert desk.stats() == by_remote


def test_stats_need_no_key_that_reads_the_cases(site: Site) -> None:
    join(site, "cas-new")  # joined after the cases came: can read none of them yet
    with remote(site, "cas-new") as desk:
        desk.list()
        stats = desk.stats()
    assert stats.total == 2 and {r.urgency for r in stats.rows} == {"unknown"}


def test_stats_refusals(site: Site) -> None:
    assert_refused(site.send("cas-main", "GET", "/api/v1/stats"), 422, "invalid_body")
    assert_refused(site.send("cas-main", "GET", "/api/v1/stats?since=yesterday"), 422, "invalid_body")
    assert_refused(site.send("vol", "GET", "/api/v1/stats?since=0"), 403)
    with remote(site, "cas-main") as desk, pytest.raises(InputRejected, match="weeks"):
        desk.stats(0)


def test_the_cli_prints_stats_and_csv(site: Site) -> None:
    text = staff_ok(site, "cas-main", "stats").stdout
    assert "2 cases in the last 12 weeks" in text and "time to first claim" in text
    csv = staff_ok(site, "cas-main", "stats", "--csv", "--with-urgency", "--weeks", "2").stdout.splitlines()
    assert csv[0] == "week,queue,status,urgency,count"
    assert sorted(line.split(",")[3] for line in csv[1:]) == ["now", "unknown"]
