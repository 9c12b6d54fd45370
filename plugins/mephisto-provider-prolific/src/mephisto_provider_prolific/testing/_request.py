"""One API call as the handlers see it, the answer they give, and Prolific's pagination envelope."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from mephisto_provider_prolific.testing._store import JSON, bad_request


@dataclass
class ApiRequest:
    """A parsed request: path parameters, query (last value wins), JSON body, and the API root URL."""

    method: str
    path: str  # relative to /api/v1/, e.g. "studies/abc/transition/"
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    api_root: str  # e.g. "http://127.0.0.1:PORT/api/v1/"

    def json_object(self) -> JSON:
        """The body as a JSON object, or a 400 saying what came instead."""
        if not isinstance(self.body, dict):
            raise bad_request({"non_field_errors": ["Invalid data. Expected a dictionary (a JSON object)."]})
        return self.body

    def int_query(self, name: str, default: int, *, minimum: int = 1) -> int:
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise bad_request({name: [f"A valid integer is required, got {raw!r}."]}) from None
        if value < minimum:
            raise bad_request({name: [f"Ensure this value is greater than or equal to {minimum}."]})
        return value


@dataclass
class ApiResponse:
    status: int
    body: Any = None  # None: no body (204, 202 without content)
    headers: dict[str, str] = field(default_factory=dict)


def paginate(request: ApiRequest, items: list[JSON], default_page_size: int) -> JSON:
    """Prolific's list envelope: `results`, `_links` (self/next/previous/last with `href` and `title`) and `meta`."""
    page_size = request.int_query("page_size", default_page_size)
    page = request.int_query("page", 1)
    count = len(items)
    last_page = max(1, -(-count // page_size))
    if page > last_page:
        raise bad_request({"page": [f"Invalid page {page}: there are {last_page} pages."]})

    def link(number: int | None, title: str) -> JSON:
        if number is None:
            return {"href": None, "title": title}
        query = dict(request.query, page=str(number), page_size=str(page_size))
        return {"href": f"{request.api_root}{request.path}?{urlencode(query)}", "title": title}

    start = (page - 1) * page_size
    return {
        "results": items[start : start + page_size],
        "_links": {
            "self": link(page, "Current"),
            "next": link(page + 1 if page < last_page else None, "Next"),
            "previous": link(page - 1 if page > 1 else None, "Previous"),
            "last": link(last_page, "Last"),
        },
        "meta": {"count": count},
    }
