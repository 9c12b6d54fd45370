"""A requester's HITs at MTurk as this installation sees them: listing, lookup by key, reading and expiring.

MTurk lists every HIT of the account (ListHITs, 100 a page); the RequesterAnnotation (`store.Annotation`) tells
which were published by this installation, for which run, under which idempotency key.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

from mephisto_core.abstractions import at_once
from mephisto_provider_mturk.client import pages
from mephisto_provider_mturk.store import Annotation, ProviderStore

#: A date in the past: MTurk expires a HIT at once when told to expire it then.
EXPIRED_AT = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
#: How long a listing is reused between lookups (find_published after a crash asks for many keys at once).
LISTING_SECONDS = 5.0

#: (what, method name, **params) -> MTurk's answer; raises MTurkError.
Call = Callable[..., Any]


def is_expired(hit: dict[str, Any]) -> bool:
    """True when the HIT's expiration has passed (boto3 gives it as an aware datetime)."""
    expiration = hit.get("Expiration")
    return isinstance(expiration, dt.datetime) and expiration <= dt.datetime.now(dt.UTC)


class RequesterHits:
    """The HITs of one requester account: `call` runs one MTurk call, `list_hits` gives the client's ListHITs."""

    def __init__(self, call: Call, list_hits: Callable[[], Any], secrets: list[str], store: ProviderStore) -> None:
        self._call = call
        self._list_hits = list_hits
        self._secrets = secrets
        self.store = store
        self._listing: tuple[float, list[dict[str, Any]]] | None = None
        self._lock = threading.Lock()

    def all(self, fresh: bool = False, since: float | None = None) -> list[dict[str, Any]]:
        """Every HIT of the account, reused for LISTING_SECONDS unless `fresh`; with `since` (a `time.monotonic()`
        reading), the listing is reused only when it was taken since then, whatever its age."""
        with self._lock:
            now = time.monotonic()
            listing = self._listing
            if since is not None:
                stale = listing is None or listing[0] < since
            else:
                stale = fresh or listing is None or now - listing[0] > LISTING_SECONDS
            if stale or listing is None:
                listed = pages(self._list_hits(), "HITs", self._secrets, "list the requester's HITs")
                listing = self._listing = (now, list(listed))
            return listing[1]

    def last_count(self) -> int | None:
        """How many HITs the account had at the last listing; None before the first."""
        with self._lock:
            return None if self._listing is None else len(self._listing[1])

    def ours(self, fresh: bool = False, since: float | None = None) -> list[tuple[Annotation, dict[str, Any]]]:
        """The HITs this installation published, each with its annotation (`fresh`, `since`: as for `all`)."""
        install = self.store.install_id()
        found = []
        for hit in self.all(fresh, since):
            note = Annotation.parse(hit.get("RequesterAnnotation"))
            if note is not None and note.install_id == install:
                found.append((note, hit))
        return found

    def of_run(self, run_id: int, fresh: bool = False, since: float | None = None) -> list[dict[str, Any]]:
        """The HITs this installation published for run `run_id` (`fresh`, `since`: as for `all`)."""
        return [hit for note, hit in self.ours(fresh, since) if note.run_id == run_id]

    def by_key(self, key: str, fresh: bool = False) -> str | None:
        """The id of the HIT published under idempotency key `key`, or None."""
        return next((str(hit["HITId"]) for note, hit in self.ours(fresh) if note.key == key), None)

    def get(self, hit_id: str) -> dict[str, Any]:
        """MTurk's HIT structure (GetHIT)."""
        return dict(self._call(f"read HIT {hit_id}", "get_hit", HITId=hit_id)["HIT"])

    def expire(self, hit_id: str) -> None:
        """Expire one HIT at once (workers who accepted it may still submit)."""
        self._call(f"expire HIT {hit_id}", "update_expiration_for_hit", HITId=hit_id, ExpireAt=EXPIRED_AT)

    def expire_run(self, run_id: int) -> list[str]:
        """Expire the run's assignable HITs; return the ids still assignable when listed again (normally none)."""
        at_once(self.expire, self._assignable(run_id), "expire")
        return self._assignable(run_id)

    def _assignable(self, run_id: int) -> list[str]:
        return [str(hit["HITId"]) for hit in self.of_run(run_id, fresh=True) if hit.get("HITStatus") == "Assignable"]
