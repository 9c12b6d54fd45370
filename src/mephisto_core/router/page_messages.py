"""What a worker page may send to the router, checked before anything is relayed.

Every text frame is parsed exactly once here; the router then forwards the page's original text, so a
valid frame is never re-serialised. Binary frames are upload frames (see docs/protocol.md, "Uploads").
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, NoReturn

import orjson

from mephisto_core.json_digits import may_hold_a_long_integer

# Page -> router text types. Uploads are binary frames and never arrive as text.
HELLO = "hello"
SUBMIT = "submit"
HEARTBEAT = "heartbeat"
LIVE = "live"
UPLOAD = "upload"
CALL = "call"

# Types whose answer echoes an integer `id`.
_REQUEST_TYPES = frozenset({HELLO, SUBMIT, HEARTBEAT, CALL})
_KNOWN_TYPES = frozenset({HELLO, SUBMIT, HEARTBEAT, LIVE, CALL})

# An upload header is a few short strings; anything bigger is not a header.
MAX_UPLOAD_HEADER_BYTES = 64 * 1024
# Room for the 4-byte length and the header on top of the file itself.
UPLOAD_FRAME_ALLOWANCE = 4 + MAX_UPLOAD_HEADER_BYTES
# Client-made keys are short random strings; a bound keeps garbage out of the operator's tables.
_MAX_KEY_CHARS = 200


class BadMessage(Exception):
    """A page frame that breaks the protocol; `message` says what is wrong, `request_id` echoes its id."""

    def __init__(self, message: str, request_id: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id


@dataclass(slots=True)  # not frozen: a frozen dataclass costs twice as much to make, once per page message
class PageMessage:
    """The parts of a valid page text frame the router itself needs, and the decoded frame (`body`)."""

    type: str
    id: int | None
    # Handed to an operator in the router's own process, so the frame is never decoded twice.
    body: dict[str, Any] | None = dataclass_field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class UploadHeader:
    """The checked header of an upload frame and where its file bytes start."""

    id: int
    upload_id: str
    file_offset: int


class _BadNumber(ValueError):
    """A number the router refuses while decoding: not finite, or more digits than Python converts."""


def _reject_constant(name: str) -> NoReturn:
    # Python's json accepts NaN and Infinity, which are not JSON; the operator must never see them.
    raise _BadNumber(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # `1e999` is valid JSON that overflows to inf: stored, it becomes `Infinity`, which no JSON reader takes.
    value = float(text)
    if not math.isfinite(value):
        raise _BadNumber(f"the number {text[:40]} overflows to infinity; numbers must be finite")
    return value


def _checked_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # only Python's digit limit (sys.set_int_max_str_digits) makes a JSON integer fail here
        digits = len(text.lstrip("-"))
        limit = sys.get_int_max_str_digits()
        raise _BadNumber(f"an integer has {digits} digits; at most {limit} are accepted") from None


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_checked_int)
# Decodes a frame already refused for a bad number, only to find its request id for the error answer.
_LENIENT_DECODER = json.JSONDecoder(
    parse_constant=lambda _: None,
    parse_float=lambda _: 0.0,
    # A request id is short; a longer integer is the refused one (or irrelevant) and must not be converted.
    parse_int=lambda text: int(text) if len(text) <= 20 else 0,
)

# In valid JSON a backslash only starts an escape inside a string. Scanning left to right, an escaped backslash
# and a well-formed surrogate pair are consumed whole, so the one capturing alternative matches exactly a
# `\uD800`-`\uDFFF` escape that is not half of a pair.
_SURROGATE_ESCAPE = re.compile(
    r"\\\\"
    r"|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r"|\\u([dD][89a-fA-F][0-9a-fA-F]{2})"
)


def _decode_object(text: str | bytes, what: str) -> dict[str, Any]:
    # orjson refuses everything the checks below refuse (NaN, infinite numbers, unpaired surrogates, bad UTF-8),
    # so a frame it takes is valid as it is; anything else goes the exact way, for the same answers as before.
    # orjson turns an integer beyond 64 bits into a float: a frame that may hold one takes the exact decoder.
    if not may_hold_a_long_integer(text):
        try:
            fast = orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
        else:
            if isinstance(fast, dict):
                return fast
            raise BadMessage(f"{what} must be a JSON object, not {_json_kind(fast)}")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise BadMessage(f"{what} is not valid UTF-8") from None
    return _decode_exact(text, what)


def _decode_exact(text: str, what: str) -> dict[str, Any]:
    try:
        value = _DECODER.decode(text)
    except _BadNumber as exc:
        raise BadMessage(f"{what} is refused: {exc}", _id_despite_bad_number(text)) from None
    except ValueError as exc:  # JSONDecodeError
        raise BadMessage(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadMessage(f"{what} is nested too deeply") from None
    if not isinstance(value, dict):
        raise BadMessage(f"{what} must be a JSON object, not {_json_kind(value)}")
    _refuse_unpaired_surrogates(text, what, value)
    return value


def _id_despite_bad_number(text: str) -> int | None:
    """The request id of a frame refused for a number, so the page's pending request gets the answer."""
    try:
        value = _LENIENT_DECODER.decode(text)
    except (ValueError, RecursionError):
        return None
    return _optional_id(value) if isinstance(value, dict) else None


def _refuse_unpaired_surrogates(text: str, what: str, value: dict[str, Any]) -> None:
    """Refuse a `\\uD800`-style escape that is not half of a pair: Python decodes it to a string no database
    or file can store (UnicodeEncodeError), so the operator would fail on it every time the page resends.

    `text` came from a UTF-8 frame, so it holds no surrogate itself; only an escape can make one. Frames
    without `\\u` skip the scan.
    """
    if "\\u" not in text:
        return
    for match in _SURROGATE_ESCAPE.finditer(text):
        if match.group(1) is not None:
            raise BadMessage(
                f"{what} has an unpaired UTF-16 surrogate (\\u{match.group(1).lower()}) in a string; "
                "strings must be valid Unicode",
                _optional_id(value),
            )


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def _is_int(value: object) -> bool:
    # bool is a subclass of int, but `true` is not a request id.
    return isinstance(value, int) and not isinstance(value, bool)


def _request_id(message: dict[str, Any], type_: str) -> int:
    value = message.get("id")
    if not _is_int(value):
        detail = "is missing" if "id" not in message else f"must be an integer, not {_json_kind(value)}"
        raise BadMessage(f"a '{type_}' message needs an integer 'id'; 'id' {detail}")
    assert isinstance(value, int)
    return value


def _check_key(value: object, field: str, type_: str, request_id: int | None) -> None:
    if not isinstance(value, str) or not value or len(value) > _MAX_KEY_CHARS:
        raise BadMessage(
            f"'{field}' of a '{type_}' message must be a non-empty string of at most {_MAX_KEY_CHARS} characters",
            request_id,
        )


def _check_hello(message: dict[str, Any], request_id: int) -> None:
    params = message.get("params")
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise BadMessage("'params' of a 'hello' message must be an object of strings", request_id)
    token = message.get("token")
    if token is not None and not isinstance(token, str):
        raise BadMessage("'token' of a 'hello' message must be a string or null", request_id)
    version = message.get("client_version")
    if version is not None and not isinstance(version, str):
        raise BadMessage("'client_version' of a 'hello' message must be a string", request_id)


def _check_submit(message: dict[str, Any], request_id: int) -> None:
    _check_key(message.get("submit_key"), "submit_key", SUBMIT, request_id)
    if not isinstance(message.get("outputs"), dict):
        raise BadMessage("'outputs' of a 'submit' message must be an object", request_id)
    uploads = message.get("uploads", [])
    if not isinstance(uploads, list) or not all(isinstance(u, str) for u in uploads):
        raise BadMessage("'uploads' of a 'submit' message must be a list of upload_id strings", request_id)


def parse_page_text(text: str | bytes) -> PageMessage:
    """Check one text frame from a page (its text, or its UTF-8 bytes); raise `BadMessage` saying what is wrong."""
    message = _decode_object(text, "the message")
    type_ = message.get("type")
    if not isinstance(type_, str):
        raise BadMessage("the message needs a string 'type'", _optional_id(message))
    if type_ not in _KNOWN_TYPES:
        hint = " (uploads are binary frames)" if type_ == UPLOAD else ""
        known = ", ".join(sorted(_KNOWN_TYPES))
        raise BadMessage(f"unknown message type {type_[:50]!r}{hint}; expected one of {known}", _optional_id(message))
    if type_ not in _REQUEST_TYPES:
        if "data" not in message:
            raise BadMessage(f"a '{type_}' message needs a 'data' field")
        return PageMessage(type_, None, message)
    request_id = _request_id(message, type_)
    if type_ == HELLO:
        _check_hello(message, request_id)
    elif type_ == SUBMIT:
        _check_submit(message, request_id)
    elif type_ == CALL:
        _check_key(message.get("call_key"), "call_key", CALL, request_id)
        _check_key(message.get("name"), "name", CALL, request_id)
    return PageMessage(type_, request_id, message)


def _optional_id(message: dict[str, Any]) -> int | None:
    value = message.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_upload_frame(frame: bytes) -> UploadHeader:
    """Check the header of a binary upload frame; raise `BadMessage` saying what is wrong."""
    if len(frame) < 4:
        raise BadMessage("an upload frame starts with a 4-byte header length; this frame is shorter")
    header_length = int.from_bytes(frame[:4], "big")
    if header_length > MAX_UPLOAD_HEADER_BYTES:
        raise BadMessage(f"an upload header may have at most {MAX_UPLOAD_HEADER_BYTES} bytes, not {header_length}")
    if header_length > len(frame) - 4:
        raise BadMessage(f"the upload header length {header_length} is longer than the frame")
    header_bytes = frame[4 : 4 + header_length]
    try:
        header_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise BadMessage("the upload header is not UTF-8") from None
    header = _decode_object(header_bytes, "the upload header")
    request_id = _optional_id(header)
    if header.get("type") != UPLOAD:
        raise BadMessage('an upload header needs "type": "upload"', request_id)
    request_id = _request_id(header, UPLOAD)
    _check_key(header.get("upload_id"), "upload_id", UPLOAD, request_id)
    for field in ("field", "name", "content_type"):
        if not isinstance(header.get(field), str):
            raise BadMessage(f"'{field}' of an upload header must be a string", request_id)
    upload_id = header["upload_id"]
    assert isinstance(upload_id, str)
    return UploadHeader(request_id, upload_id, 4 + header_length)


def error_frame(code: str, message: str, request_id: int | None = None) -> bytes:
    """The router's own `error` answer to a page (compact JSON, UTF-8)."""
    body: dict[str, object] = {"type": "error", "code": code, "message": message}
    if request_id is not None:
        body["id"] = request_id
    return _compact(body)


def _compact(body: dict[str, object]) -> bytes:
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:  # an id beyond 64 bits
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


#: the router's words to a page once the run it served is over (the operator's own for its `run_over` refusal)
RUN_OVER_TEXT = "This task has finished and takes no more work. Thank you!"


def run_over_frame(message_type: str, request_id: int | None) -> bytes:
    """The router's answer to a page's request once the run is over and its operator gone: `hello` is refused
    with `run_over`, anything else gets the `run_over` error."""
    if message_type != HELLO:
        return error_frame("run_over", RUN_OVER_TEXT, request_id)
    return _compact({"type": "refused", "id": request_id, "reason": "run_over", "message": RUN_OVER_TEXT})


def stored_answer_frame(answer: dict[str, Any], request_id: int | None) -> bytes:
    """An answer the operator left for a page (see run_over.py), as the answer to the page's request `request_id`."""
    return _compact({**answer, "id": request_id})


def heartbeat_ack_frame(request_id: int, operator_connected: bool) -> bytes:
    """The router's answer to a `heartbeat` (compact JSON, UTF-8)."""
    connected = b"true" if operator_connected else b"false"
    return b'{"type":"heartbeat_ack","id":%d,"operator_connected":%s}' % (request_id, connected)
