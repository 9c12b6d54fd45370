"""A provider whose platform records every block and qualification call, for the quality rules tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from mephisto_core.abstractions import CrowdProvider, WorkerIdentity
from mephisto_core.data_model import Worker
from mephisto_core.data_model.rule_actions import RuleAction
from mephisto_core.hookspecs import hookimpl


class RulePlatformProvider(CrowdProvider):
    """Workers named by `worker_id`; every platform call is appended to `calls` (as the platform would hold it)."""

    type_name: ClassVar[str] = "rule_platform_test"
    default_requester_name: ClassVar[str | None] = "TEST_REQUESTER"
    publishes_units: ClassVar[bool] = False
    calls: ClassVar[list[tuple[Any, ...]]] = []

    def identify_worker(self, params: Any) -> WorkerIdentity:
        return WorkerIdentity(params.get("worker_id"))

    def grant_qualification(self, worker: Worker, name: str, value: int) -> None:
        self.calls.append(("grant", worker.name, name, value))

    def revoke_qualification(self, worker: Worker, name: str) -> None:
        self.calls.append(("revoke", worker.name, name))

    def block_worker(self, worker: Worker, reason: str) -> None:
        self.calls.append(("block", worker.name, reason))

    def unblock_worker(self, worker: Worker) -> None:
        self.calls.append(("unblock", worker.name))

    def block_worker_for_task(self, worker: Worker, task_name: str, reason: str) -> None:
        self.calls.append(("block_task", worker.name, task_name, reason))

    def unblock_worker_for_task(self, worker: Worker, task_name: str) -> None:
        self.calls.append(("unblock_task", worker.name, task_name))


class RulePlatformPlugin:
    @hookimpl
    def mephisto_register_providers(self, register: Any) -> None:
        register(RulePlatformProvider)


async def until_told(count: int, seconds: float = 10) -> None:
    """Wait until `count` rule actions have heard back from the provider."""
    deadline = time.monotonic() + seconds
    while RuleAction.select().where(RuleAction.platform_status != "pending").count() < count:
        assert time.monotonic() < deadline, f"timed out waiting for {count} rule actions to reach the provider"
        await asyncio.sleep(0.05)


def hello(worker: str) -> dict[str, Any]:
    return {"type": "hello", "params": {"worker_id": worker}, "token": None}
