"""Task pages name their scripts and styles with the files' versions, so a browser keeps them without asking.

A page (HTML: never kept by the browser) is rewritten once, when the router reads it. Each `<script src>` and
`<link href>` that names a file the router serves gets `?v=VERSION` (`&v=` after a query), VERSION being the file's
entity tag. The router answers a request that carries the file's current version with a year's `max-age`
(`versioned`): a worker's next unit uses the kept copy without a round trip. A changed file has another version,
which the next page names, so nothing stale is used. Requests without the current version (a script's own imports,
a style's `url()`s, a page from before a relaunch) are revalidated as before.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable

#: the query parameter that carries a file's version
VERSION_PARAM = "v"
#: a request naming the current version may be kept this long without asking (it never changes under that name)
VERSIONED_CACHE_CONTROL = "public, max-age=31536000, immutable"

_TAG = re.compile(rb"<(script|link)\b[^>]*>", re.IGNORECASE)
_ATTRIBUTE = {
    b"script": re.compile(rb"""(\ssrc\s*=\s*)(["'])([^"'<>\s]*)\2""", re.IGNORECASE),
    b"link": re.compile(rb"""(\shref\s*=\s*)(["'])([^"'<>\s]*)\2""", re.IGNORECASE),
}


def version_of(etag: str) -> str:
    """The version a page names a file by: its entity tag's opaque part (`W/"abc"` -> `abc`)."""
    return etag.removeprefix("W/").strip('"')


def versioned_page(page: bytes, page_path: str, version: Callable[[str], str | None]) -> bytes:
    """`page` with each script's `src` and each link's `href` that `version` knows given `?v=VERSION`.

    `page_path` is the page's own URL path (relative references are resolved against it); `version(path)` gives
    the version of the file at an absolute URL path of this server, or None (not served, not kept by browsers).
    Other references (another origin, `data:`, a fragment, one that already carries a version) stay as they are.
    """

    def tag(match: re.Match[bytes]) -> bytes:
        attribute = _ATTRIBUTE[match.group(1).lower()]
        return attribute.sub(reference, match.group(0), count=1)

    def reference(match: re.Match[bytes]) -> bytes:
        # Pages are UTF-8 (the router serves them so); bytes that are not come back out unchanged.
        value = match.group(3).decode("utf-8", "surrogateescape")
        path = _own_path(value, page_path)
        found = version(path) if path is not None else None
        if found is None:
            return match.group(0)
        versioned = f"{value}{'&' if '?' in value else '?'}{VERSION_PARAM}={urllib.parse.quote(found)}"
        return match.group(1) + match.group(2) + versioned.encode("utf-8", "surrogateescape") + match.group(2)

    return _TAG.sub(tag, page)


def requested_version(target: str) -> str | None:
    """The version a request target names (`?v=...`), if any."""
    _, _, query = target.partition("?")
    if f"{VERSION_PARAM}=" not in query:
        return None
    values = urllib.parse.parse_qs(query).get(VERSION_PARAM)
    return values[-1] if values else None


def _own_path(value: str, page_path: str) -> str | None:
    """The absolute URL path on this server that a reference names, or None (another origin, a fragment, a
    version already given, nothing but the page itself)."""
    if not value or value.startswith(("#", "//")) or "#" in value:
        return None
    parts = urllib.parse.urlsplit(value)
    if parts.scheme or parts.netloc:
        return None  # another origin, data:, javascript:
    if f"{VERSION_PARAM}=" in parts.query:
        return None
    joined = urllib.parse.urljoin(page_path, parts.path)
    return joined or None
