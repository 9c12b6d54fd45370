"""WebSocket framing (RFC 6455) for the router's own server and the operator's channel client.

The server reads masked client frames and writes unmasked ones; the channel client does the opposite. No
extension is ever negotiated, so the reserved bits must be zero. Building a frame is one `struct.pack` and one
concatenation, so a frame goes out in a single `transport.write`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Callable

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

# Close codes (RFC 6455 section 7.4.1).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_NO_STATUS = 1005
CLOSE_ABNORMAL = 1006
CLOSE_INVALID_DATA = 1007
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
# Codes a peer may put in a close frame (others are reserved or mean "no frame was received").
EXTERNAL_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
MAX_CONTROL_PAYLOAD = 125
MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD - 2

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")


def _apply_mask_python(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR `data` with the repeated 4-byte `mask`, as one big-integer operation."""
    length = len(data)
    if length == 0:
        return b""
    repeated = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")).to_bytes(length, "little")


apply_mask: Callable[[bytes | bytearray | memoryview, bytes], bytes]
try:
    from websockets.speedups import apply_mask as _apply_mask_c  # C code, when websockets was built with it
except ImportError:  # pragma: no cover - depends on how websockets was installed
    apply_mask = _apply_mask_python
else:
    apply_mask = _apply_mask_c


def accept_key(key: str) -> str:
    """The `Sec-WebSocket-Accept` answer to a client's `Sec-WebSocket-Key`."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def is_valid_key(key: str) -> bool:
    """Whether `key` is a `Sec-WebSocket-Key`: base64 of 16 bytes."""
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError):
        return False


def frame_header(opcode: int, length: int, fin: bool = True) -> bytes:
    """The header of an unmasked (server) frame carrying `length` payload bytes."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        return _SHORT.pack(first, length)
    if length < 65536:
        return _MEDIUM.pack(first, 126, length)
    return _LONG.pack(first, 127, length)


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One whole unmasked frame (the server never fragments what it sends)."""
    return frame_header(opcode, len(payload)) + payload


def close_payload(code: int | None, reason: str = "") -> bytes:
    """The payload of a close frame: empty without a code, else the code and a reason cut to 123 bytes."""
    if code is None:
        return b""
    encoded = reason.encode("utf-8")[:MAX_CLOSE_REASON_BYTES]
    # Cut on a character boundary.
    encoded = encoded.decode("utf-8", "ignore").encode("utf-8")
    return struct.pack("!H", code) + encoded


def is_sendable_close_code(code: int) -> bool:
    """Whether `code` may be sent in a WebSocket close frame."""
    return code in EXTERNAL_CLOSE_CODES or 3000 <= code <= 4999


def parse_close(payload: bytes) -> tuple[int, str]:
    """The code and reason of a received close frame; ValueError if it breaks the protocol."""
    if not payload:
        return CLOSE_NO_STATUS, ""
    if len(payload) == 1:
        raise ValueError("a close frame payload of one byte")
    (code,) = struct.unpack("!H", payload[:2])
    if not is_sendable_close_code(code):
        raise ValueError(f"invalid close code {code}")
    return code, payload[2:].decode("utf-8")  # UnicodeDecodeError is a ValueError


def read_header(buf: bytes | bytearray | memoryview, pos: int, available: int, mask_bytes: int) -> tuple[int, int]:
    """(header size, payload length) of the frame at `pos` in `buf`, of which `available` bytes (at least 2) have
    arrived; (0, 0) while its header has not all arrived. `mask_bytes`: 4 for a client's frame (the server reads
    those, masked), 0 for a server's (the channel client reads those)."""
    length = buf[pos + 1] & 0x7F
    if length == 126:
        header = 4 + mask_bytes
        if available < header:
            return 0, 0
        return header, (buf[pos + 2] << 8) | buf[pos + 3]
    if length == 127:
        header = 10 + mask_bytes
        if available < header:
            return 0, 0
        return header, int.from_bytes(buf[pos + 2 : pos + 10], "big")
    header = 2 + mask_bytes
    return (header, length) if available >= header else (0, 0)


def mask_frame(opcode: int, payload: bytes | bytearray | memoryview, mask: bytes, fin: bool = True) -> bytes:
    """A masked (client) frame, as a browser sends: the operator's channel client, tests and load generators."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        header = _SHORT.pack(first, 0x80 | length)
    elif length < 65536:
        header = _MEDIUM.pack(first, 0x80 | 126, length)
    else:
        header = _LONG.pack(first, 0x80 | 127, length)
    return header + mask + apply_mask(payload, mask) if length else header + mask
