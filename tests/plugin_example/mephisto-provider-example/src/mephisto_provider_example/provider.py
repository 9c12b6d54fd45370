"""The `example` provider: participants open `?participant=CODE`; actions are recorded in a JSON-lines file."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field

from mephisto_core.abstractions import CrowdProvider, ProviderArgs, RequesterArgs, WorkerIdentity
from mephisto_core.data_model import Agent, TaskRun, Unit, Worker
from mephisto_core.errors import ProviderError

PARAM = "participant"
_CODE = re.compile(r"[A-Za-z0-9-]{3,32}")
# Review actions may run on several threads at once: one lock keeps each line whole.
_write_lock = threading.Lock()


class ExampleArgs(ProviderArgs):
    """The `[provider]` section of a task with `type = "example"`."""

    requester_name: str | None = Field(default="example-lab", description="Name the run is recorded under.")
    study_code: str = Field(default="study", description="Written with every recorded action.")


class ExampleRequesterArgs(RequesterArgs):
    """No account: `mephisto register example NAME` takes no key=value pairs."""


class ExampleProvider(CrowdProvider):
    """Participants open ?participant=CODE; nothing is paid, every action is recorded in actions.jsonl."""

    type_name: ClassVar[str] = "example"
    Args: ClassVar[type[ProviderArgs]] = ExampleArgs
    RequesterArgs: ClassVar[type[RequesterArgs]] = ExampleRequesterArgs
    # True: the launcher calls launch_units / expire_units (a provider with nothing to publish sets False and
    # units are offered by a status change alone).
    publishes_units: ClassVar[bool] = True
    default_requester_name: ClassVar[str | None] = "example-lab"

    def identify_worker(self, params: Mapping[str, str]) -> WorkerIdentity:
        """CODE from `?participant=CODE`; no parameter is the preview; a malformed code is refused."""
        code = params.get(PARAM)
        if code is None:
            return WorkerIdentity(None)
        if not _CODE.fullmatch(code):
            return WorkerIdentity(None, refusal="This link's participant code is not valid; ask for a new link.")
        return WorkerIdentity(code)

    def worker_link(self, base_url: str, worker_name: str | None = None) -> str:
        return f"{base_url}?{PARAM}={worker_name or 'CODE'}"

    def simulated_worker_params(self, worker_name: str) -> dict[str, str]:
        """Simulated workers open the same links as people (the core's default would send ?worker_id=)."""
        return {PARAM: worker_name}

    def setup_resources(self, run: TaskRun, worker_url: str) -> None:
        self._record("setup", run_id=run.id, worker_url=worker_url)

    def launch_units(self, units: Sequence[Unit], worker_url: str) -> dict[int, str | None]:
        self._record("launch", unit_ids=[unit.id for unit in units])
        return {unit.id: f"example-{unit.id}" for unit in units}  # stored as each unit's provider_unit_id

    def expire_units(self, units: Sequence[Unit]) -> None:
        self._record("expire", unit_ids=[unit.id for unit in units])

    def cleanup_resources(self, run: TaskRun) -> None:
        self._record("cleanup", run_id=run.id)

    def approve_work(self, agent: Agent, feedback: str) -> None:
        self._record("approve", agent_id=agent.id, feedback=feedback)

    def reject_work(self, agent: Agent, feedback: str) -> None:
        self._record("reject", agent_id=agent.id, feedback=feedback)

    def bonus_worker(self, worker: Worker, amount: Decimal, reason: str, unit: Unit | None) -> None:
        if amount <= 0:
            raise ProviderError(f"a bonus must be more than 0, got {amount}")
        self._record("bonus", worker=worker.name, amount=str(amount), reason=reason)

    def block_worker(self, worker: Worker, reason: str) -> None:
        self._record("block", worker=worker.name, reason=reason)

    def unblock_worker(self, worker: Worker) -> None:
        self._record("unblock", worker=worker.name)

    def _record(self, action: str, **fields: Any) -> None:
        entry = {"action": action, "study": self.args.study_code, **fields}  # type: ignore[attr-defined]
        with _write_lock:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            with (self.data_dir / "actions.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
