"""A small Prolific REST client on httpx: token auth, timeouts, retries with backoff, typed answers.

Retries: a 429 (rate limited) or a 5xx answer is tried again after the time its `Retry-After` header asks for
(seconds or an HTTP date), else after an exponential backoff (0.5 s, 1 s, 2 s, ...), at most `max_retries` times.
A connection that could not be opened is retried too (nothing reached Prolific); a read that timed out is retried
only for GET, since a POST may have been applied.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from mephisto_core.abstractions import redact
from mephisto_core.errors import ProviderError

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)

#: Longest wait honoured from a Retry-After header; a platform asking for more is reported instead.
MAX_RETRY_AFTER_SECONDS = 60.0
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ProlificAPIError(ProviderError):
    """Prolific refused a request or could not be reached; `status` is the HTTP status (None when unreachable)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ProlificClient:
    """One API token's view of Prolific. Thread-safe (httpx.Client is), so one per provider instance."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff_seconds: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise ProviderError(
                "no Prolific API token: register one with `mephisto register prolific NAME api_key=...`"
            )
        self._api_key = api_key
        httpx_log = logging.getLogger("httpx")
        if httpx_log.level == logging.NOTSET:
            # httpx logs every request at INFO: a line per place added would bury the launch's own output.
            httpx_log.setLevel(logging.WARNING)
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Token {api_key}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- the HTTP layer -------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """Send one request (retrying as the module says) and return the decoded JSON answer (None for no body)."""
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path.lstrip("/"), json=json, params=params)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt >= self.max_retries:
                    raise ProlificAPIError(
                        self._clean(f"Prolific could not be reached ({method} {path}): {exc}")
                    ) from None
                self._wait(attempt, None)
                attempt += 1
                continue
            except httpx.TimeoutException as exc:
                if method != "GET" or attempt >= self.max_retries:
                    raise ProlificAPIError(
                        self._clean(f"Prolific did not answer in time ({method} {path}): {exc}")
                    ) from None
                self._wait(attempt, None)
                attempt += 1
                continue
            except httpx.HTTPError as exc:
                raise ProlificAPIError(self._clean(f"Prolific request failed ({method} {path}): {exc}")) from None
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                delay = _retry_after(response)
                if delay is not None and delay > MAX_RETRY_AFTER_SECONDS:
                    raise self._error(method, path, response, f" (asked to wait {delay:.0f} s)")
                log.info("Prolific answered %s to %s %s; trying again", response.status_code, method, path)
                self._wait(attempt, delay)
                attempt += 1
                continue
            if response.status_code >= 400:
                raise self._error(method, path, response, "")
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise ProlificAPIError(f"Prolific answered {method} {path} with something that is not JSON") from None

    def _wait(self, attempt: int, retry_after: float | None) -> None:
        delay = retry_after if retry_after is not None else self.backoff_seconds * (2**attempt)
        self._sleep(max(0.0, delay))

    def _error(self, method: str, path: str, response: httpx.Response, extra: str) -> ProlificAPIError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:500]
        detail = _detail(body)
        message = f"Prolific refused {method} {path}: HTTP {response.status_code}{extra}" + (
            f": {detail}" if detail else ""
        )
        return ProlificAPIError(self._clean(message), response.status_code, body)

    def _clean(self, text: str) -> str:
        return redact(text, [self._api_key])

    def get_model(self, path: str, model: type[ModelT], params: dict[str, Any] | None = None) -> ModelT:
        """GET `path` and read the answer as `model`."""
        return _parse(model, self.request("GET", path, params=params), path)

    def send_model(self, method: str, path: str, model: type[ModelT], body: Any) -> ModelT:
        """Send `body` (a model or plain JSON) and read the answer as `model`."""
        payload = body.model_dump(mode="json", exclude_none=True) if isinstance(body, BaseModel) else body
        return _parse(model, self.request(method, path, json=payload), path)

    def list_models(self, path: str, model: type[ModelT], params: dict[str, Any] | None = None) -> list[ModelT]:
        """Every item of a list endpoint (`{"results": [...]}`), following `_links.next` pages."""
        return self.listing(path, model, params)[0]

    def listing(self, path: str, model: type[ModelT], params: dict[str, Any] | None = None) -> tuple[list[ModelT], int]:
        """Every item of a list endpoint, and how many pages (calls) it took."""
        items: list[ModelT] = []
        pages = 0
        for page in self._pages(path, params):
            items.extend(_parse(model, item, path) for item in page)
            pages += 1
        return items, pages

    def _pages(self, path: str, params: dict[str, Any] | None) -> Iterator[list[Any]]:
        answer = self.request("GET", path, params=params)
        followed: set[str] = set()
        while True:
            if isinstance(answer, list):
                yield answer
                return
            if not isinstance(answer, dict) or not isinstance(answer.get("results"), list):
                raise ProlificAPIError(f"Prolific answered GET {path} without a list of results")
            yield answer["results"]
            next_link = (answer.get("_links") or {}).get("next") or {}
            href = next_link.get("href") if isinstance(next_link, dict) else None
            if not href:
                return
            # The whole list, however long (it stopped silently at 1,000 pages before): only a next link seen
            # already, a loop, ends it, as an error.
            if href in followed:
                raise ProlificAPIError(f"Prolific's pages of GET {path} lead back to {href}: the list never ends")
            followed.add(href)
            answer = self.request("GET", str(href).removeprefix(str(self._http.base_url)))


def _parse(model: type[ModelT], data: Any, path: str) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ProlificAPIError(f"Prolific's answer to {path} is not a {model.__name__} as expected: {exc}") from None


def _detail(body: Any) -> str:
    """The human part of Prolific's error body (`{"error": {"detail": ...}}` or a plain `detail`)."""
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            detail = error.get("detail", error.get("title", ""))
            return detail if isinstance(detail, str) else str(detail)[:500]
        return str(error)[:500]
    return str(body)[:500] if body else ""


def _retry_after(response: httpx.Response) -> float | None:
    """The wait a Retry-After header asks for, in seconds (None when absent or unreadable)."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
