"""A batch's submissions in a run with screening, together (data_model/screening_many.py): stored and, for workers
not screened yet, graded and granted in one statement on PostgreSQL, where the usual way takes six to eight round
trips per submission (on SQLite, a few statements in the writer's transaction). The hellos of such a run claim
together too: PostgreSQL's claim checks the screening itself (`pool_sql_many.SCREENING`); on SQLite the batch reads
it for its workers (`pool_groups._judged_here`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mephisto_core.data_model.onboarding_many import ensure_qualification
from mephisto_core.data_model.pool_sql_many import runs_many
from mephisto_core.data_model.screening_many import ScreenedSubmission, Screening, complete_screened_many
from mephisto_core.operations.run import platform_grants

if TYPE_CHECKING:
    from mephisto_core.operations.run.worker_pool import WorkerPool

Grants = tuple[platform_grants.PlatformGrant, ...]


class ScreenedSubmissions:
    """Stores a pool's batches of screened submissions (`store`); makes `<task>-screened` once, before its first
    grant."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool
        self._qualification_made = False

    def together(self) -> bool:
        """Whether this run's submissions are screened together: in a run where a worker holds one unit at a time
        (the statement grades one submission per worker)."""
        return runs_many(self.pool.queries) and self.pool.ctx.config.task.allowed_concurrent == 1

    def row(
        self, agent_id: int, unit_id: int, inputs: Any, outputs: dict[str, Any], key: str
    ) -> ScreenedSubmission | None:
        """A submission (of a run screened `together`), with the validator's verdict, to store together; None when
        the validator raises: it goes the usual way, which logs it and holds the worker for a person."""
        validator = self.pool.ctx.rules.screening
        assert validator is not None
        try:
            passed = bool(validator(inputs, outputs))
        except Exception:  # the usual way runs it again, and keeps the submission with a screen_error record
            return None
        return (agent_id, unit_id, outputs, key, passed)

    def store(self, rows: Sequence[ScreenedSubmission], now: dt.datetime) -> tuple[dict[int, bool], dict[int, Grants]]:
        """Store and grade `rows` in one statement: agent id -> whether its unit moved, of those stored; and agent
        id -> the grants its submission made that the provider is to be told of (`platform_grants.to_tell`)."""
        ctx = self.pool.ctx
        screening = ctx.config.task.screening
        assert screening is not None
        if not self._qualification_made:
            ensure_qualification(ctx.screening_qualification, f"Passed the screening of {ctx.task.name}")
            self._qualification_made = True
        run = Screening(ctx.screening_qualification, screening.units, int(ctx.task.id))
        screened = complete_screened_many(self.pool.queries, rows, run, now)
        values = dict(screened.granted.values())
        told = platform_grants.to_tell(ctx, ctx.screening_qualification, values)
        grants: dict[int, Grants] = {
            agent_id: (told[worker_id],) for agent_id, (worker_id, _) in screened.granted.items() if worker_id in told
        }
        return screened.moved, grants
