"""Which JSON texts take the exact decoder: those with a run of 19 or more ASCII digits, as text or as bytes."""

from __future__ import annotations

import json

import orjson
import pytest

from mephisto_core.json_digits import may_hold_a_long_integer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"n": 123456789012345678}', False),  # 18 digits: within 64 bits
        ('{"n": 1234567890123456789}', True),  # 19 digits
        ("12345678901234567890", True),  # at the very start and end
        ('{"n": -18446744073709551617}', True),
        ('{"a": 123456789, "b": 1234567890, "c": 123456789}', False),  # 28 digits in all, none in a long run
        ('{"t": "é٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣٣"}', False),  # other scripts' digits are no JSON number
        ('{"t": "€ 1234567890123456789 €"}', True),  # a long run in a string merely takes the exact way
        ("", False),
    ],
)
def test_a_run_of_19_digits_is_found_in_text_and_in_bytes(text: str, expected: bool) -> None:
    assert may_hold_a_long_integer(text) is expected
    assert may_hold_a_long_integer(text.encode()) is expected


def test_every_integer_orjson_would_read_inexactly_is_caught() -> None:
    for value in (-(2**63) - 1, 2**64, 2**70, -(2**100)):
        text = json.dumps({"answer": value})
        assert isinstance(orjson.loads(text)["answer"], float)  # what the check guards against
        assert may_hold_a_long_integer(text) and may_hold_a_long_integer(text.encode())
