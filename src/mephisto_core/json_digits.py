"""Which JSON texts orjson might not read exactly: it reads an integer past 64 bits as the nearest float, so a text
that could hold one goes to the standard decoder, which keeps every digit.

Kept free of heavy imports: the router process uses it for every page message.
"""

from __future__ import annotations

import re

#: The shortest digit run that can be an integer outside orjson's exact range: -(2**63) - 1 has 19 digits.
#: Floats with long mantissas match too and merely take the exact (slower) way.
_LONG_DIGITS_BYTES = re.compile(rb"[0-9]{19}")
_LONG_DIGITS_TEXT = re.compile(r"[0-9]{19}")
_NOT_DIGITS = bytes(c for c in range(256) if not 0x30 <= c <= 0x39)


def may_hold_a_long_integer(text: str | bytes) -> bool:
    """Whether `text` has a run of 19 or more digits. For bytes, a count of all its digits comes first: most
    texts have fewer than 19 in all, and skip the search."""
    if isinstance(text, bytes):
        return len(text.translate(None, _NOT_DIGITS)) >= 19 and _LONG_DIGITS_BYTES.search(text) is not None
    return _LONG_DIGITS_TEXT.search(text) is not None
