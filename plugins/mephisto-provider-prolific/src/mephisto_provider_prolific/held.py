"""What Prolific says of the submissions behind units held here: the in-run sync's question every 15 s.

A held unit's agent carries its SESSION_ID, the id of its submission at Prolific. There are two ways to ask:
list the submissions of each of the run's studies (a study's pages come one after the other), or GET each held
submission, 8 at a time. Late in a large study a few units are held among thousands of submissions, and listing
them all each time is slow and spends Prolific's rate limit; early on, hundreds are held in a young study, and a GET
each would spend more calls than the listing's pages. `HeldSubmissions` takes the way with fewer calls (the core's
`listing_beats_each`), judged by how many pages each study took the last time this provider listed it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Sequence

from mephisto_core.abstractions import at_once, listing_beats_each
from mephisto_provider_prolific.api import ProlificAPI
from mephisto_provider_prolific.client import ProlificAPIError
from mephisto_provider_prolific.models import Submission

log = logging.getLogger(__name__)


class HeldSubmissions:
    """Reads the submissions of held sessions the cheaper way (see the module docstring). Thread-safe."""

    def __init__(self) -> None:
        self._pages: dict[str, int] = {}  # study id -> pages its last listing took
        self._unknown: set[str] = set()  # sessions Prolific did not know, warned about once
        self._lock = threading.Lock()

    def read(
        self, api: ProlificAPI, study_ids: Sequence[str], sessions: Collection[str]
    ) -> list[tuple[str | None, Submission]]:
        """(study id, submission) for each of `sessions` Prolific has in one of `study_ids`; a session it does not
        know is left out, as a listing would leave it out."""
        if not sessions or not study_ids:
            return []
        if self.listing_is_cheaper(study_ids, len(sessions)):
            wanted = set(sessions)
            listings = at_once(lambda study_id: self._list(api, study_id), study_ids, "prolific-list")
            return [(study_id, s) for study_id, found in listings for s in found if s.id in wanted]
        studies = set(study_ids)
        read = at_once(lambda session: self._read_one(api, session), list(sessions), "prolific-sync")
        return [(s.study_id, s) for s in read if s is not None and (s.study_id is None or s.study_id in studies)]

    def listing_is_cheaper(self, study_ids: Sequence[str], held: int) -> bool:
        """Whether to list the studies rather than GET each held submission (`listing_beats_each`), by the pages
        each study took at its last listing. A study not listed yet is taken to fit in one page, so the first
        sync lists, and learns each study's size."""
        with self._lock:
            pages = max(self._pages.get(study_id, 1) for study_id in study_ids)
        return listing_beats_each(held, pages)

    def _read_one(self, api: ProlificAPI, session: str) -> Submission | None:
        try:
            return api.submission_state(session)
        except ProlificAPIError as exc:
            if exc.status not in (403, 404):
                raise
        # A SESSION_ID that is not one of this account's submissions (typed into a link by hand): nothing to
        # reconcile there, as a listing of the studies would not show it either. Said once, not every sync.
        with self._lock:
            first_time = session not in self._unknown
            self._unknown.add(session)
        if first_time:
            log.warning(
                "Prolific has no submission %s for this account; its unit stays held until it times out", session
            )
        return None

    def _list(self, api: ProlificAPI, study_id: str) -> tuple[str, list[Submission]]:
        submissions, pages = api.submissions_listing(study_id)
        with self._lock:
            self._pages[study_id] = pages
        return study_id, submissions
