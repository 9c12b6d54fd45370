"""Checking what the browser sends: ids, amounts, texts, statuses and paging.

Each check raises `ApiError` with status 400 and a message that names the field and says what was expected, so
a script author (or the UI's message line) sees what to fix.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION
from mephisto_core.errors import MephistoError
from mephisto_core.operations.unit_filters import unit_statuses

#: Longest feedback or reason text accepted (what a worker is shown; the platforms cap theirs near this).
MAX_TEXT = 2000
#: Longest qualification name (the same cap as `mephisto qualifications create`).
MAX_QUALIFICATION_NAME = 200
#: Largest amount the database column holds (12 digits, 2 of them decimals).
MAX_AMOUNT = Decimal("9999999999.99")
#: Most units one list page or one bulk action may cover.
MAX_PAGE = 500
MAX_BULK = 500
#: Qualification values are stored as 32-bit integers on PostgreSQL.
_INT32 = (-(2**31), 2**31 - 1)
_ID_TEXT = re.compile(r"[0-9]{1,18}")


class ApiError(Exception):
    """An error answered as `{"error": message}` with an HTTP status (and, for 405, the allowed methods)."""

    def __init__(self, status: int, message: str, *, allow: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.allow = allow


def bad_request(message: str) -> ApiError:
    """A 400 error."""
    return ApiError(400, message)


def parse_id(raw: object, what: str) -> int:
    """A positive integer id from a URL segment, query parameter or JSON value."""
    if isinstance(raw, bool):  # JSON true is an int to Python; never an id
        raise bad_request(f"{what} must be a positive integer id, got {raw!r}")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _ID_TEXT.fullmatch(raw):
        value = int(raw)
    else:
        raise bad_request(f"{what} must be a positive integer id, got {_shorten(raw)}")
    if value < 1 or value > 2**62:
        raise bad_request(f"{what} must be a positive integer id, got {value}")
    return value


def parse_index(raw: str, what: str) -> int:
    """A 0-based position from a URL segment."""
    if not _ID_TEXT.fullmatch(raw):
        raise bad_request(f"{what} must be a number (0 for the first), got {_shorten(raw)}")
    return int(raw)


def parse_paging(params: dict[str, str]) -> tuple[int, int]:
    """`offset` (default 0) and `limit` (default 50, at most MAX_PAGE) from query parameters."""
    offset, limit = 0, 50
    if "offset" in params:
        if not _ID_TEXT.fullmatch(params["offset"]):
            raise bad_request(f"offset must be a whole number of units to skip, got {_shorten(params['offset'])}")
        offset = int(params["offset"])
    if "limit" in params:
        text = params["limit"]
        if not _ID_TEXT.fullmatch(text) or not 1 <= int(text) <= MAX_PAGE:
            raise bad_request(f"limit must be a whole number from 1 to {MAX_PAGE}, got {_shorten(text)}")
        limit = int(text)
    return offset, limit


def parse_statuses(raw: str) -> list[str]:
    """A comma-separated list of unit statuses (e.g. `completed,rejected`), checked as the unit filters check them."""
    items = [item for item in raw.split(",") if item.strip()]
    if not items:
        raise bad_request("status is empty: name one or more unit statuses separated by commas, or leave it out")
    try:
        return list(unit_statuses(items))
    except MephistoError as exc:
        raise bad_request(str(exc)) from None


def check_fields(body: dict[str, Any], allowed: set[str], where: str) -> None:
    """Refuse fields a request does not know (a typo would otherwise be silently ignored)."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise bad_request(f"unknown field {unknown[0]!r} in the {where} request; it takes: {known}")


def parse_text(body: dict[str, Any], key: str, *, required: bool, what: str) -> str:
    """A feedback or reason text: a string of at most MAX_TEXT characters without control characters."""
    raw = body.get(key)
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise bad_request(f"{key} must be text, got {type(raw).__name__}")
    text = raw.strip()
    if required and not text:
        raise bad_request(f"{key} is required: {what}")
    if len(text) > MAX_TEXT:
        raise bad_request(f"{key} is {len(text)} characters long; at most {MAX_TEXT} are allowed")
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t\r" for ch in text):
        raise bad_request(f"{key} contains control characters; use plain text")
    return text


def parse_client_key(raw: object) -> str | None:
    """A bonus's client key (optional): 1 to 128 letters, digits, `-` or `_`, made by the page per bonus asked."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", raw):
        raise bad_request(f"client_key must be 1 to 128 letters, digits, - or _, got {_shorten(raw)}")
    return raw


def parse_amount(raw: object) -> Decimal:
    """A bonus amount: a positive decimal with at most two decimal places (JSON number or string)."""
    if raw is None or raw == "":
        raise bad_request("amount is required: the bonus to pay, e.g. 0.50")
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise bad_request(f"amount must be a number such as 0.50, got {_shorten(raw)}")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise bad_request(f"amount must be a number such as 0.50, got {_shorten(raw)}") from None
    if not value.is_finite():
        raise bad_request(f"amount must be a finite number, got {_shorten(raw)}")
    if value <= 0:
        raise bad_request(f"amount must be more than 0, got {value}")
    if value != value.quantize(Decimal("0.01")):
        raise bad_request(f"amount {value} has more than two decimal places")
    if value > MAX_AMOUNT:
        raise bad_request(f"amount {value} is larger than {MAX_AMOUNT}")
    return value.quantize(Decimal("0.01"))


def parse_qualification(body: dict[str, Any]) -> str:
    """The qualification name of a grant or revoke; the global block has its own actions."""
    raw = body.get("qualification")
    if not isinstance(raw, str) or not raw.strip():
        raise bad_request("qualification is required: the name of the qualification to grant or revoke")
    name = raw.strip()
    if len(name) > MAX_QUALIFICATION_NAME:
        raise bad_request(f"qualification name is {len(name)} characters long; at most {MAX_QUALIFICATION_NAME}")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise bad_request("qualification name contains control characters")
    if name == BLOCK_QUALIFICATION:
        raise bad_request(f"{BLOCK_QUALIFICATION!r} is the global block: use the block and unblock actions")
    return name


def parse_qualification_value(body: dict[str, Any]) -> int:
    """The value of a grant (default 1): a whole number."""
    raw = body.get("value", 1)
    if isinstance(raw, str) and re.fullmatch(r"-?[0-9]{1,10}", raw.strip()):
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise bad_request(f"value must be a whole number (default 1), got {_shorten(raw)}")
    if not _INT32[0] <= raw <= _INT32[1]:
        raise bad_request(f"value {raw} is out of range ({_INT32[0]} to {_INT32[1]})")
    return raw


def parse_id_list(raw: object, what: str) -> list[int]:
    """A non-empty JSON list of distinct ids (order kept), at most MAX_BULK of them."""
    if not isinstance(raw, list) or not raw:
        raise bad_request(f"{what} must be a non-empty list of ids, e.g. [12, 13]")
    if len(raw) > MAX_BULK:
        raise bad_request(f"{what} has {len(raw)} ids; at most {MAX_BULK} at a time")
    ids: list[int] = []
    for position, item in enumerate(raw):
        value = parse_id(item, f"{what}[{position}]")
        if value not in ids:
            ids.append(value)
    return ids


def _shorten(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= 60 else text[:57] + "..."
