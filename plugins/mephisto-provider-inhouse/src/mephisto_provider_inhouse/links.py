"""Personal links: `<base>?worker=NAME&token=TOKEN`, and the checks on the base address they are built on."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

WORKER_PARAM = "worker"
TOKEN_PARAM = "token"
# Where the local architect serves by default (`[architect] port = 3000`); the base of printed links when the
# task file names none.
DEFAULT_BASE_URL = "http://127.0.0.1:3000/"


def base_url_problem(url: str) -> str | None:
    """Why `url` cannot be the base of worker links (a phrase to put after it), or None when it can."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host name (expected something like http://127.0.0.1:3000/)"
    if parts.fragment:
        return "must not have a #fragment: the browser would not send what follows it"
    try:
        _ = parts.port  # urlsplit checks the port only when it is read
    except ValueError:
        return "has a port that is not a number between 0 and 65535"
    taken = {key for key, _ in parse_qsl(parts.query)} & {WORKER_PARAM, TOKEN_PARAM}
    if taken:
        return f"already has a {sorted(taken)[0]!r} parameter, which the personal link adds"
    return None


def personal_link(base_url: str, name: str, token: str) -> str:
    """The link that identifies worker `name` by its `token`; keeps any query the base already has."""
    parts = urlsplit(base_url)
    query = urlencode([(WORKER_PARAM, name), (TOKEN_PARAM, token)], safe="@")
    if parts.query:
        query = f"{parts.query}&{query}"
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))


def link_template(base_url: str) -> str:
    """The shape of a personal link on `base_url`, with NAME and TOKEN where each worker's values go."""
    parts = urlsplit(base_url)
    query = f"{WORKER_PARAM}=NAME&{TOKEN_PARAM}=TOKEN"
    if parts.query:
        query = f"{parts.query}&{query}"
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))
