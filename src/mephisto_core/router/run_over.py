"""Whether the run a router served is over: its operator said so as the run ended (`{"event": "run_over"}`).

While it is and no operator is connected, the router answers pages itself: `hello` is refused with `run_over` and
any other request gets the `run_over` error, instead of `unavailable` (which makes a page wait for an operator that
will not come back). A standalone router keeps the fact in its data dir, so it holds after a restart; the next
operator channel to open ends it (a resumed run, or another task).
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

#: the `event` of the operator's envelope `{"event": "run_over"}`
RUN_OVER_EVENT = "run_over"
#: the marker file in a standalone router's data dir
MARKER = "run-over"


class RunOver:
    """The flag, and its marker file when the router has a data dir."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._marker = None if data_dir is None else data_dir / MARKER
        self.is_set = False

    def load(self) -> None:
        """Read the marker a previous router process left. Blocking."""
        self.is_set = self._marker is not None and self._marker.exists()

    def set(self) -> None:
        """The operator said the run is over."""
        if self.is_set:
            return
        self.is_set = True
        log.info("the run is over: pages are told so until an operator connects again")
        self._write(True)

    def clear(self) -> None:
        """An operator connected: pages are its to answer again."""
        if not self.is_set:
            return
        self.is_set = False
        self._write(False)

    def _write(self, present: bool) -> None:
        # A few bytes once per run: written on the event loop. Not fsynced: a marker lost to a power cut only
        # makes pages wait (`unavailable`) as they did before the operator said so.
        if self._marker is None:
            return
        try:
            if present:
                self._marker.touch(mode=0o600)
            else:
                self._marker.unlink(missing_ok=True)
        except OSError as exc:
            what = "write" if present else "remove"
            log.warning("could not %s %s (%s); a restarted router may answer otherwise", what, self._marker, exc)
