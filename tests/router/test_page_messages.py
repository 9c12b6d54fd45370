"""The router's checks of page frames, on their own: any input gives a verdict, never a crash."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from mephisto_core.router.page_messages import (
    BadMessage,
    PageMessage,
    parse_page_text,
    parse_upload_frame,
)

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.text())
def test_any_text_is_either_a_page_message_or_bad_message(text: str) -> None:
    try:
        verdict = parse_page_text(text)
    except BadMessage as exc:
        assert exc.message
    else:
        assert isinstance(verdict, PageMessage)


@given(st.sampled_from(["hello", "submit", "heartbeat", "live", "upload", "other"]), _json_values, _json_values)
def test_typed_objects_with_arbitrary_fields_never_crash_the_check(type_: str, id_: object, body: object) -> None:
    message = {"type": type_, "id": id_, "params": body, "outputs": body, "submit_key": body, "data": body}
    try:
        verdict = parse_page_text(json.dumps(message))
    except BadMessage as exc:
        assert exc.request_id is None or isinstance(exc.request_id, int)
    else:
        assert verdict.type == type_


@given(st.binary(max_size=300))
def test_any_binary_frame_is_either_an_upload_or_bad_message(frame: bytes) -> None:
    try:
        header = parse_upload_frame(frame)
    except BadMessage as exc:
        assert exc.message
    else:
        assert 4 <= header.file_offset <= len(frame)


def test_a_valid_submit_is_accepted_with_its_id() -> None:
    text = json.dumps({"type": "submit", "id": 9, "submit_key": "k1", "outputs": {"a": [1]}, "uploads": ["u"]})
    assert parse_page_text(text) == PageMessage("submit", 9)


def test_a_valid_upload_header_points_at_the_file_bytes() -> None:
    header = json.dumps(
        {
            "type": "upload",
            "id": 2,
            "upload_id": "u",
            "field": "f",
            "name": "a.txt",
            "content_type": "text/plain",
        }
    ).encode()
    frame = len(header).to_bytes(4, "big") + header + b"file"
    parsed = parse_upload_frame(frame)
    assert (parsed.id, parsed.upload_id, frame[parsed.file_offset :]) == (2, "u", b"file")
