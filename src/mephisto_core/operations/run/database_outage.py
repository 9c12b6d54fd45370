"""Database trouble during a run: which failures the operator rides out, how it reports them, when it gives up.

A lock held past the busy timeout, a full disk or a database server restarting makes the operator's own work
fail (peewee.OperationalError) for a while. The operator then tries the same work again on its next tick and
logs the trouble at most once every `WARNING_EVERY_SECONDS`; only when every attempt has failed for
`GIVE_UP_SECONDS` does it stop the run with `DatabaseUnavailableError`. Pages meanwhile get `unavailable` for
their own requests and resend them, so nothing they were told is stored gets lost.
"""

from __future__ import annotations

import logging
import math
import time

import peewee as pw

from mephisto_core.errors import DatabaseError

log = logging.getLogger(__name__)

WARNING_EVERY_SECONDS = 10.0  # while the database keeps failing, one warning this often
GIVE_UP_SECONDS = 60.0  # a database failing this long (every attempt) stops the run
RESUME_HINT = "Nothing acknowledged is lost: launch the same task again to resume."


class DatabaseUnavailableError(DatabaseError):
    """The operator's database work failed for `GIVE_UP_SECONDS` on end, so it stopped the run."""


class DatabaseOutage:
    """Consecutive failures of the operator's own database work: logged now and then, fatal when they last.

    `what` names the work in messages ("running the run's tick", "creating the run's units").
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.since: float | None = None
        self.failures = 0
        self._warned_at = -math.inf

    def failed(self, exc: pw.OperationalError) -> None:
        """Count one failure; raise DatabaseUnavailableError once failures have lasted GIVE_UP_SECONDS."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
        self.failures += 1
        lasted = now - self.since
        if lasted >= GIVE_UP_SECONDS:
            raise DatabaseUnavailableError(
                f"the database failed for {lasted:.0f} s while {self.what} (last error: {exc}), so the run "
                f"stopped. Fix what keeps it failing (a full disk, another process holding a lock, a database "
                f"server that is down). {RESUME_HINT}"
            ) from exc
        # A lock or a full disk fails every tick: one line per interval tells the researcher without flooding.
        if now - self._warned_at >= WARNING_EVERY_SECONDS:
            self._warned_at = now
            log.warning(
                "database error while %s: %s (%d failures in %.0f s); trying again, the run stops if it "
                "still fails after %.0f s",
                self.what,
                exc,
                self.failures,
                lasted,
                GIVE_UP_SECONDS,
            )

    def succeeded(self) -> None:
        """The work went through: end the outage (and say so if one was reported)."""
        if self.since is not None:
            log.warning(
                "the database works again, after %d failures in %.0f s while %s",
                self.failures,
                time.monotonic() - self.since,
                self.what,
            )
        self.since = None
        self.failures = 0
        self._warned_at = -math.inf
