"""Whether the run a router served is over: its operator said so as the run ended (`{"event": "run_over"}`).

While it is and no operator is connected, the router answers pages itself: `hello` is refused with `run_over` and
any other request gets the `run_over` error, instead of `unavailable` (which makes a page wait for an operator that
will not come back). A standalone router keeps the fact in its data dir, so it holds after a restart; the next
operator channel to open ends it (a resumed run, or another task).

The notice may carry `answers`: for each page that may not have read its last `submitted` answer, what the
operator would answer it (operations/run/last_answers.py). Such a page that comes back with its token gets its
hello answered as its unit, already submitted, and its resent submission (the same `submit_key`) acknowledged,
rather than being told only that the task ended.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mephisto_core.file_modes import open_private_file

log = logging.getLogger(__name__)

#: the `event` of the operator's envelope `{"event": "run_over"}`
RUN_OVER_EVENT = "run_over"
#: the marker file in a standalone router's data dir (its text: the answers, as JSON; empty when there are none)
MARKER = "run-over"
#: a page's token is at most this long (the operator refuses longer ones)
_MAX_TOKEN = 128


@dataclass(frozen=True, slots=True)
class PageAnswers:
    """What a page that comes back with its token is answered: `hello` to its hello, and `submitted` to a
    submission with `submit_key` (each with the request's id)."""

    hello: dict[str, Any]
    submit_key: str
    submitted: dict[str, Any]

    def as_entry(self, token: str) -> dict[str, Any]:
        return {"token": token, "hello": self.hello, "submit_key": self.submit_key, "submitted": self.submitted}


def page_answers(raw: object) -> dict[str, PageAnswers]:
    """The well-formed entries of a notice's `answers`, by token; each malformed one is logged and left out."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        log.warning("ignoring a run-over notice's 'answers' that is not a list")
        return {}
    found: dict[str, PageAnswers] = {}
    for entry in raw:
        token, hello, key, submitted = (
            (entry.get("token"), entry.get("hello"), entry.get("submit_key"), entry.get("submitted"))
            if isinstance(entry, dict)
            else (None, None, None, None)
        )
        if (
            isinstance(token, str)
            and 0 < len(token) <= _MAX_TOKEN
            and isinstance(hello, dict)
            and hello.get("type") == "assigned"
            and isinstance(key, str)
            and isinstance(submitted, dict)
            and submitted.get("type") == "submitted"
        ):
            found[token] = PageAnswers(hello, key, submitted)
        else:
            log.warning("ignoring a malformed entry of a run-over notice's 'answers': %.200r", entry)
    return found


class RunOver:
    """The flag, the pages' answers, and the marker file when the router has a data dir."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._marker = None if data_dir is None else data_dir / MARKER
        self.is_set = False
        self._answers: dict[str, PageAnswers] = {}

    def load(self) -> None:
        """Read the marker a previous router process left. Blocking."""
        self.is_set = self._marker is not None and self._marker.exists()
        if not self.is_set or self._marker is None:
            return
        try:
            text = self._marker.read_text(encoding="utf-8")
            self._answers = page_answers(json.loads(text)) if text.strip() else {}
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            log.warning(
                "could not read the pages' answers in %s (%s): late pages are told only that it ended",
                self._marker,
                exc,
            )

    def set(self, answers: object = None) -> None:
        """The operator said the run is over; `answers` as its notice carries them (see `page_answers`)."""
        new = page_answers(answers)
        if self.is_set and not new:
            return
        self.is_set = True
        self._answers.update(new)
        log.info(
            "the run is over: pages are told so until an operator connects again (%d page(s) may come back for "
            "their last answer)",
            len(self._answers),
        )
        self._write(True)

    def clear(self) -> None:
        """An operator connected: pages are its to answer again."""
        if not self.is_set:
            return
        self.is_set = False
        self._answers = {}
        self._write(False)

    def answers_for(self, token: object) -> PageAnswers | None:
        """The answers kept for the page holding `token` (None: none, or the run is not over)."""
        if not self.is_set or not isinstance(token, str):
            return None
        return self._answers.get(token)

    def _write(self, present: bool) -> None:
        # Once per run, on the event loop: a few bytes, or the kept pages' answers (a bounded number). Not
        # fsynced: a marker lost to a power cut only makes pages wait (`unavailable`) as they did before the
        # operator said so.
        if self._marker is None:
            return
        try:
            if present:
                entries = [answers.as_entry(token) for token, answers in self._answers.items()]
                # Beside it, then renamed over it: the marker never shows half its answers, and is 0600 (tokens).
                tmp = self._marker.with_suffix(".tmp")
                with os.fdopen(open_private_file(tmp), "w", encoding="utf-8") as out:
                    out.write(json.dumps(entries) if entries else "")
                os.replace(tmp, self._marker)
            else:
                self._marker.unlink(missing_ok=True)
        except OSError as exc:
            what = "write" if present else "remove"
            log.warning("could not %s %s (%s); a restarted router may answer otherwise", what, self._marker, exc)
