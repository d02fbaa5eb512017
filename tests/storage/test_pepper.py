"""The reference pepper's check value: a damaged pepper is refused, and old homes record one only safely."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from crypto.reference import REFERENCE_COST, hash_reference, pepper_check
from intake.followups import add_follow_up
from intake.requests import Request, submit
from storage.errors import HomeInvalid
from storage.home import PEPPER_CHECK_KEY
from storage.server import Server
from tests.conftest import StaffedHome

pytestmark = pytest.mark.timeout(60)


def _now() -> int:
    return int(time.time())


def _flip_one_digit(staffed: StaffedHome) -> None:
    """A damage that still parses: one hex digit of the pepper changed."""
    path = staffed.root / "secrets" / "reference_pepper"
    text = path.read_text().strip()
    path.write_text(("1" if text[0] != "1" else "2") + text[1:] + "\n")


def _forget_check(server: Server) -> None:
    """As a home made before check values existed."""
    with server.db.transaction() as conn:
        conn.execute("DELETE FROM meta WHERE key = ?", (PEPPER_CHECK_KEY,))


@pytest.fixture
def old_home(staffed_home: StaffedHome) -> Iterator[Server]:
    with staffed_home.open() as server:
        _forget_check(server)
        yield server


def test_init_records_the_check_value_and_the_right_pepper_passes(server: Server) -> None:
    pepper = server.home.pepper()
    assert server.db.meta(PEPPER_CHECK_KEY) == pepper_check(pepper).hex()
    assert server.pepper() == pepper


def test_a_pepper_with_one_digit_changed_is_refused(staffed_home: StaffedHome) -> None:
    _flip_one_digit(staffed_home)
    with staffed_home.open() as server, pytest.raises(HomeInvalid, match="does not match this database"):
        server.pepper()


def test_submit_refuses_a_damaged_pepper_and_stores_nothing(staffed_home: StaffedHome) -> None:
    _flip_one_digit(staffed_home)
    with staffed_home.open() as server:
        with pytest.raises(HomeInvalid):
            submit(server, Request({"help": "x"}), _now())
        assert server.db.conn.execute("SELECT count(*) FROM cases").fetchone()[0] == 0


@pytest.mark.parametrize("text", ["", "abcd", "00" * 15, "00" * 17, "zz" * 16])
def test_a_pepper_of_the_wrong_shape_is_refused(staffed_home: StaffedHome, text: str) -> None:
    (staffed_home.root / "secrets" / "reference_pepper").write_text(text + "\n")
    with staffed_home.open() as server, pytest.raises(HomeInvalid, match="reference_pepper"):
        server.pepper()


def test_a_damaged_check_value_is_refused_too(server: Server) -> None:
    with server.db.transaction() as conn:
        server.db.set_meta(conn, PEPPER_CHECK_KEY, "not hex")
    with pytest.raises(HomeInvalid, match="does not match"):
        server.pepper()


def test_an_old_home_without_cases_records_the_check_at_once(old_home: Server) -> None:
    assert old_home.record_pepper_check() is True
    assert old_home.db.meta(PEPPER_CHECK_KEY) == pepper_check(old_home.home.pepper()).hex()
    assert old_home.record_pepper_check() is False  # recorded once, never replaced


def test_an_old_home_with_cases_does_not_record_an_unproven_pepper(old_home: Server, staffed_home: StaffedHome) -> None:
    submit(old_home, Request({"help": "x"}), _now())
    assert old_home.db.meta(PEPPER_CHECK_KEY) is None  # submit uses the pepper, never records it
    _flip_one_digit(staffed_home)  # damaged after the case was stored
    assert old_home.record_pepper_check() is False
    assert old_home.db.meta(PEPPER_CHECK_KEY) is None
    # The limit of an old home: until a check is recorded a damaged pepper cannot be told (doctor warns).
    assert old_home.pepper() == old_home.home.pepper()


def test_a_follow_up_that_matches_proves_the_pepper_and_records_it(old_home: Server) -> None:
    receipt = submit(old_home, Request({"help": "x"}), _now())
    pepper = old_home.home.pepper()
    wrong = hash_reference("0000 000 000 000 000", pepper, REFERENCE_COST)
    assert add_follow_up(old_home, wrong, "more", "en", _now()) is None
    assert old_home.db.meta(PEPPER_CHECK_KEY) is None
    right = hash_reference(receipt.reference, pepper, REFERENCE_COST)
    assert add_follow_up(old_home, right, "more", "en", _now()) == receipt.case_id
    assert old_home.db.meta(PEPPER_CHECK_KEY) == pepper_check(pepper).hex()
