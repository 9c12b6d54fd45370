"""After the run: do the stored submissions match exactly what the bots saw acknowledged?"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import peewee as pw

from mephisto_core.data_model import Agent, AgentStatus, OnboardingAgent, Unit, open_database


@dataclass
class DbCheck:
    """The comparison of the database's completed agents with the acknowledged submit keys."""

    completed_agents: int  # and submitted onboarding tests
    unit_statuses: dict[str, int]
    missing_from_db: int  # acknowledged, yet no completed agent has that key: a lost submission
    not_acknowledged: int  # stored as completed, yet no bot saw the acknowledgement
    duplicate_acks: int  # the same key acknowledged twice (each bot makes a fresh key per unit)

    @property
    def matches(self) -> bool:
        return self.missing_from_db == 0 and self.not_acknowledged == 0 and self.duplicate_acks == 0


def check_database(database_url: str | None, sqlite_path: Path, acknowledged: list[str]) -> DbCheck:
    """Open the run's database and compare its completed agents' submit keys with `acknowledged`."""
    database = open_database(database_url, sqlite_path)
    try:
        completed = Agent.select(Agent.submit_key).where(Agent.status == AgentStatus.COMPLETED.value)
        stored: list[str | None] = [row[0] for row in cast(Iterable[tuple[Any, ...]], completed.tuples())]
        # onboarding tests are acknowledged as units are (`--onboarding`); a submitted one holds its key
        tests = OnboardingAgent.select(OnboardingAgent.submit_key).where(OnboardingAgent.submit_key.is_null(False))
        stored += [row[0] for row in cast(Iterable[tuple[Any, ...]], tests.tuples())]
        by_status = Unit.select(Unit.status, pw.fn.COUNT(Unit.id)).group_by(Unit.status)
        statuses = {str(row[0]): int(row[1]) for row in cast(Iterable[tuple[Any, ...]], by_status.tuples())}
    finally:
        database.close()
    stored_set, acked_set = set(stored), set(acknowledged)
    duplicates = sum(n - 1 for n in Counter(acknowledged).values() if n > 1)
    return DbCheck(
        completed_agents=len(stored),
        unit_statuses=statuses,
        missing_from_db=len(acked_set - stored_set),
        not_acknowledged=len(stored_set - acked_set) + (len(stored) - len(stored_set)),
        duplicate_acks=duplicates,
    )
