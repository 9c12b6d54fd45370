"""Everything one running task run needs, passed to the launcher, worker pool and client IO."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mephisto_core.operations.run.worker_rules import RunRules

if TYPE_CHECKING:
    from mephisto_core.abstractions import Blueprint, CrowdProvider
    from mephisto_core.data_model import Task, TaskRun
    from mephisto_core.operations.run.platform_grants import PlatformGrant
    from mephisto_core.settings import Settings
    from mephisto_core.task_config import TaskConfig


@dataclass
class RunContext:
    """The task run being served and the plugin instances serving it."""

    settings: Settings
    config: TaskConfig
    task: Task
    run: TaskRun
    blueprint: Blueprint
    provider: CrowdProvider
    worker_url: str = ""
    rules: RunRules = field(default_factory=RunRules)
    #: False once shutdown began: workers already holding a unit may finish, nobody gets a new one.
    accepting: bool = True
    #: Moves whenever this process offers units (launches or relaunches some); the worker pool forgets that the
    #: run had nothing to offer when it does (`offered`).
    offers: int = 0
    _offer_numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)
    #: True once this process created all of the run's data (the owner's feeder reached the end): a run with no
    #: incomplete unit then stays over, so the worker pool may remember telling a worker so.
    all_created: bool = False
    #: Automatic grants of the running writer job the provider is still to be told about (`platform_grants`).
    platform_grants: list[PlatformGrant] = field(default_factory=list)

    def offered(self) -> None:
        """This process offered units: `offers` takes a number it never had. The writer, the side connection's
        thread and the event loop all offer; each takes its number from the counter at once, so two of them can
        never bring `offers` back to a value a "nothing to offer" hint was taken at (as `offers += 1` from two
        threads could)."""
        self.offers = next(self._offer_numbers)

    # Qualifications the core keeps per task (a worker's standing in it):
    @property
    def onboarding_qualification(self) -> str:
        return f"{self.task.name}-onboarding"

    @property
    def onboarding_description(self) -> str:
        """The description of `onboarding_qualification`, when the first grade creates it."""
        return f"Passed the onboarding test of task {self.task.name}"

    @property
    def screening_qualification(self) -> str:
        return f"{self.task.name}-screened"

    @property
    def gold_failed_qualification(self) -> str:
        return f"{self.task.name}-gold-failed"

    @property
    def block_qualification(self) -> str:
        return f"{self.task.name}-blocked"
