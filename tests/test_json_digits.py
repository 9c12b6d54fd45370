"""Which JSON texts take the exact decoder: those with a run of 19 or more ASCII digits, as text or as bytes."""

from __future__ import annotations

import json

import orjson
import pytest

from mephisto_core.json_digits import loads_exactly, may_hold_a_long_integer


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


@pytest.mark.parametrize(
    "text",
    [
        '{"answer": 18446744073709551617, "n": -9223372036854775809}',  # past 64 bits
        '{"a": 1e400}',  # past a double: orjson refuses, the standard decoder says inf
        '"\\ud800"',  # a lone surrogate's escape: orjson refuses
        '{"a": 1, "a": 2, "b": [0.1, -0.0, "é"]}',
    ],
)
def test_loads_exactly_reads_as_the_standard_decoder_does(text: str) -> None:
    assert repr(loads_exactly(text)) == repr(json.loads(text))
    assert repr(loads_exactly(text.encode("utf-8", "surrogatepass"))) == repr(json.loads(text))


def test_loads_exactly_raises_the_standard_error_for_what_is_not_json() -> None:
    with pytest.raises(ValueError):
        loads_exactly("{not json")
