"""Everything one running task run needs, passed to the launcher, worker pool and client IO."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mephisto_core.abstractions import Blueprint, CrowdProvider
    from mephisto_core.data_model import Task, TaskRun
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
    #: False once shutdown began: workers already holding a unit may finish, nobody gets a new one.
    accepting: bool = True

    @property
    def onboarding_qualification(self) -> str:
        return f"{self.task.name}-onboarding"
