"""Case references: 16 digits, uniform, normalised, slowly hashed with a pepper."""

from __future__ import annotations

import re

import nacl.utils
import pytest

from crypto.errors import ReferenceInvalid
from crypto.reference import (
    REFERENCE_COST_MINIMUM,
    format_reference,
    hash_reference,
    new_reference,
    normalise_reference,
    pepper_check,
)


def test_reference_is_sixteen_grouped_digits() -> None:
    assert re.fullmatch(r"\d{4} \d{3} \d{3} \d{3} \d{3}", new_reference())


def test_references_do_not_repeat_and_use_every_digit() -> None:
    refs = {new_reference() for _ in range(2000)}
    assert len(refs) == 2000
    digits = "".join(normalise_reference(r) for r in refs)
    assert set(digits) == set("0123456789")


@pytest.mark.parametrize(
    "typed", ["1234 567 890 123 456", "1234-5678-9012-3456", "+1234567890123456", " 1234567890123456 "]
)
def test_typed_variants_normalise(typed: str) -> None:
    assert normalise_reference(typed) == "1234567890123456"
    assert format_reference(typed) == "1234 567 890 123 456"


@pytest.mark.parametrize("typed", ["", "123", "12345678901234567", "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦"])
def test_invalid_references_are_rejected(typed: str) -> None:
    with pytest.raises(ReferenceInvalid):
        normalise_reference(typed)


def test_hash_depends_on_reference_and_pepper_not_on_spacing() -> None:
    pepper, other = nacl.utils.random(16), nacl.utils.random(16)
    ref = new_reference()
    h = hash_reference(ref, pepper, REFERENCE_COST_MINIMUM)
    assert h == hash_reference(normalise_reference(ref), pepper, REFERENCE_COST_MINIMUM)
    assert h != hash_reference(ref, other, REFERENCE_COST_MINIMUM)
    assert h != hash_reference(new_reference(), pepper, REFERENCE_COST_MINIMUM)


def test_pepper_check_is_keyed_blake2b_and_tells_any_changed_byte() -> None:
    zero = bytes(16)
    # Known answer: BLAKE2b-128 of the empty string, keyed with 16 zero bytes, personal "ws-pepper-check".
    assert pepper_check(zero).hex() == "387bc89a052359cb20040d609eeea651"
    for position in range(16):
        changed = bytearray(zero)
        changed[position] ^= 0x01
        assert pepper_check(bytes(changed)) != pepper_check(zero)
    with pytest.raises(ValueError):
        pepper_check(bytes(15))
