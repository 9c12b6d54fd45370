"""What the router's file answers negotiate: gzip for clients that accept it, and revalidation by entity tag.

A file is compressed once, when it is read, and kept beside its original (the router keeps served files in
memory), so a compressed answer costs no CPU per request. Browsers all send `Accept-Encoding: gzip`; a client that
does not gets the file as it is. The task's scripts are about a third of their size gzipped, which is what a worker
on a slow connection waits for before the task shows.
"""

from __future__ import annotations

import gzip
import hashlib

#: Smaller files are sent as they are: below a packet or so, compression saves no round trip.
GZIP_MIN_BYTES = 1024
#: Larger files are sent as they are: the router reads them for every request (it keeps only smaller ones in
#: memory), so compressing them would cost CPU per request. The router's memory limit for a file is this one.
GZIP_MAX_BYTES = 2 * 2**20
#: zlib's default: within a few per cent of the smallest output at a fraction of level 9's time, which matters for
#: the first page of a burst, whose file read (and compression) the others wait for.
_LEVEL = 6
#: A compressed copy is kept only when it saves at least this share of the bytes.
_MIN_SAVING = 0.1
_COMPRESSIBLE = frozenset(
    {
        "application/javascript",
        "application/json",
        "application/manifest+json",
        "application/wasm",
        "application/xml",
        "image/svg+xml",
    }
)


def gzip_variant(body: bytes, content_type: str) -> bytes | None:
    """`body` gzipped, when its type is text-like, its size is worth it and compression saves enough; else None."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not (media_type.startswith("text/") or media_type in _COMPRESSIBLE):
        return None  # images, fonts, audio and video are compressed already
    if not GZIP_MIN_BYTES <= len(body) <= GZIP_MAX_BYTES:
        return None
    # mtime=0: the same file gives the same bytes, whenever and wherever it is compressed.
    packed = gzip.compress(body, compresslevel=_LEVEL, mtime=0)
    return packed if len(packed) <= len(body) * (1 - _MIN_SAVING) else None


def entity_tag(body: bytes) -> str:
    """A weak entity tag of the file's bytes: weak, because its gzipped and plain answers share it."""
    return f'W/"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an `Accept-Encoding` header value accepts gzip (RFC 9110 12.5.3): named, or by `*`, with a
    non-zero weight. An explicit `gzip;q=0` refuses it whatever `*` says."""
    if not accept_encoding:
        return False
    star = False
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            return _weight(params) > 0
        if coding == "*":
            star = _weight(params) > 0
    return star


def _weight(params: str) -> float:
    """The `q` of a coding's parameters (1 when absent; 0 when it cannot be read, so nothing odd is assumed)."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip())
            except ValueError:
                return 0.0
    return 1.0


def etag_matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an `If-None-Match` header value names `tag`, compared weakly (RFC 9110 13.1.2), or is `*`."""
    if not if_none_match:
        return False
    wanted = _opaque(tag)
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or _opaque(candidate) == wanted:
            return True
    return False


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag
