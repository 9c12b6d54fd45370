"""Unpaired UTF-16 surrogates in page frames: refused as `bad_message` by the router, whatever their place."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mephisto_core.router.page_messages import BadMessage, PageMessage, parse_page_text, parse_upload_frame


def submit_text(outputs: str) -> str:
    return '{"type": "submit", "id": 5, "submit_key": "key-00001", "outputs": ' + outputs + "}"


@pytest.mark.parametrize(
    "outputs",
    [
        r'{"a": "\ud800"}',  # a lone high surrogate
        r'{"a": "x\udfffy"}',  # a lone low surrogate
        r'{"a": "\ude00\ud83d"}',  # a pair in the wrong order
        r'{"a": "\ud83d\ud83d\ude00"}',  # a high one before a valid pair
        r'{"\uDBFF": 1}',  # in a key, upper case
        r'{"a": [{"b": ["ok", "\ud800"]}]}',  # nested
        r'{"a": "\\\ud800"}',  # an escaped backslash, then the escape
    ],
)
def test_unpaired_surrogate_escapes_are_bad_messages_with_the_request_id(outputs: str) -> None:
    with pytest.raises(BadMessage, match="unpaired UTF-16 surrogate") as refused:
        parse_page_text(submit_text(outputs))
    assert refused.value.request_id == 5


@pytest.mark.parametrize(
    "outputs",
    [
        r'{"a": "\ud83d\ude00"}',  # a pair: one emoji
        r'{"a": "\uD83D\uDE00 \u00e9\u0041"}',
        r'{"a": "\\ud800"}',  # a backslash followed by the letters "ud800", not an escape
        r'{"a": "\\\\ud800"}',
        '{"a": "\U0001f600 raw"}',
    ],
)
def test_valid_unicode_and_escaped_backslashes_are_accepted(outputs: str) -> None:
    assert parse_page_text(submit_text(outputs)) == PageMessage("submit", 5)


def test_an_upload_header_with_an_unpaired_surrogate_is_refused() -> None:
    header = r'{"type": "upload", "id": 3, "upload_id": "up-00001", "field": "f", "name": "a\ud800.txt",'
    raw = (header + ' "content_type": "text/plain"}').encode()
    with pytest.raises(BadMessage, match="surrogate") as refused:
        parse_upload_frame(len(raw).to_bytes(4, "big") + raw + b"bytes")
    assert refused.value.request_id == 3


# Strings of any code point with surrogates mixed in, halves of one pair among them; json.dumps escapes them all
# (ensure_ascii), and two adjacent halves that make a pair decode to one character again.
_any_text = st.text(st.characters() | st.sampled_from(["\ud83d", "\ude00", "\udbff", "\udc00"]), max_size=6)
_values = st.recursive(
    st.none() | st.integers() | _any_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_any_text, inner, max_size=3),
    max_leaves=10,
)


def _storable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@given(st.dictionaries(_any_text, _values, max_size=3))
def test_a_submit_is_accepted_exactly_when_its_strings_can_be_stored(outputs: dict[str, Any]) -> None:
    text = json.dumps({"type": "submit", "id": 1, "submit_key": "key-00001", "outputs": outputs})
    decoded = json.loads(text)  # what the operator would get
    try:
        parse_page_text(text)
    except BadMessage as exc:
        assert "surrogate" in exc.message
        assert not _storable(decoded)
    else:
        assert _storable(decoded)
