"""Participants' links: who a study URL names, where they go when done, and the link a launch prints."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping

from mephisto_core.abstractions import PageCompletion, WorkerIdentity
from mephisto_core.errors import ProviderError
from mephisto_provider_prolific.settings import ProlificSettings
from mephisto_provider_prolific.state import StateStore

URL_PARAMS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")
SIMULATED_STUDY = "SIMULATED"


def study_url(worker_url: str) -> str:
    """The worker link with Prolific's three placeholders, which Prolific fills for each participant."""
    query = "&".join(f"{name}={{{{%{name}%}}}}" for name in URL_PARAMS)
    return worker_url + ("&" if "?" in worker_url else "?") + query


class ProlificLinksMixin:
    """The link half of `ProlificProvider` (it supplies `settings`, `store`, `_run_id` and the code cache)."""

    settings: ProlificSettings
    store: StateStore
    _run_id: int | None
    _codes_lock: threading.Lock
    _codes: dict[str, str] | None
    _current_code: tuple[str, str] | None

    def identify_worker(self, params: Mapping[str, str]) -> WorkerIdentity:
        """PROLIFIC_PID is the worker, SESSION_ID the attempt; STUDY_ID must be one of this run's studies."""
        participant = params.get("PROLIFIC_PID")
        if participant is None:
            return WorkerIdentity(None)
        study_id, session = params.get("STUDY_ID", ""), params.get("SESSION_ID", "")
        if not _plain_id(participant) or not _plain_id(session) or not study_id:
            return WorkerIdentity(
                None,
                refusal="This link lacks Prolific's PROLIFIC_PID, STUDY_ID or SESSION_ID. "
                "Open the study from Prolific.",
            )
        codes = self._study_codes()
        if study_id not in codes:  # a study made since the record was read (or a wrong link): read it again
            self._forget_codes()
            codes = self._study_codes()
        if study_id == SIMULATED_STUDY and self.settings.is_overridden and self._current_code is not None:
            study_id = self._current_code[0]  # a simulated worker of a test (see simulated_worker_params)
        code = codes.get(study_id)
        if code is None:
            return WorkerIdentity(
                None,
                refusal=(
                    f"This link is for the Prolific study {study_id!r}, which this task is not running. "
                    "Open the study again from Prolific."
                ),
            )
        completion = PageCompletion(
            url=self.settings.completion_url, method="GET", fields={"cc": code}, label="Return to Prolific"
        )
        return WorkerIdentity(participant, provider_agent_id=session, completion=completion)

    def _study_codes(self) -> dict[str, str]:
        """{study id: completion code} of the run's studies, read from the record once per change of study.

        Called at every page hello (identify_worker runs inline): the record, which grows with the publish keys,
        is read again only when a link names a study not seen yet.
        """
        with self._codes_lock:
            if self._codes is None and self._run_id is not None:
                state = self.store.load_run(self._run_id)
                self._codes = {} if state is None else dict(state.codes)
                if state is not None and state.study_id is not None:
                    self._current_code = (state.study_id, state.codes.get(state.study_id, ""))
            return dict(self._codes or {})

    def _forget_codes(self) -> None:
        with self._codes_lock:
            self._codes, self._current_code = None, None

    def worker_link(self, base_url: str, worker_name: str | None = None) -> str:
        """The study URL Prolific opens (its placeholders filled by Prolific for each participant)."""
        return study_url(base_url)

    def simulated_worker_params(self, worker_name: str) -> dict[str, str]:
        """Only against a test's fake Prolific (MEPHISTO_PROLIFIC_API_URL): real participants come from Prolific.

        The study is not made yet when the core asks, so the link names the run's current study as
        `STUDY_ID=SIMULATED`, which `identify_worker` accepts only under the same test-only setting.
        """
        if not self.settings.is_overridden:
            raise ProviderError(
                "the prolific provider cannot run simulated workers against Prolific itself: participants come "
                "from Prolific. Launch without --simulate (or try the task with provider.type=mock)."
            )
        return {"PROLIFIC_PID": worker_name, "STUDY_ID": SIMULATED_STUDY, "SESSION_ID": "sim" + secrets.token_hex(8)}


def _plain_id(value: str) -> bool:
    return 0 < len(value) <= 64 and all(ch.isalnum() or ch in "-_" for ch in value)
