"""The `mock` provider: workers are whoever opens `?worker_id=NAME`; review actions go to a local ledger."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from pydantic import Field

from mephisto_core.abstractions import CrowdProvider, ProviderArgs, RequesterArgs, WorkerIdentity
from mephisto_core.errors import ProviderError
from mephisto_provider_mock.ledger import append_entry

if TYPE_CHECKING:
    from mephisto_core.data_model import Agent, Unit, Worker

WORKER_ID_PARAM = "worker_id"
MAX_WORKER_NAME_LENGTH = 128


class MockProviderArgs(ProviderArgs):
    """The `[provider]` section of a task that uses `type = "mock"`."""

    requester_name: str | None = Field(
        default="MOCK_REQUESTER",
        description="Name the run is recorded under. The mock provider needs no account; keep the default.",
    )


class MockRequesterArgs(RequesterArgs):
    """The mock provider stores no credentials: `mephisto register mock NAME` takes no key=value pairs."""


class MockProvider(CrowdProvider):
    """A crowd provider for local testing and in-person studies.

    Anyone who opens `http://HOST:PORT/?worker_id=NAME` works as worker NAME (the core creates the worker the
    first time it sees the name). Nothing is published or paid anywhere: every approve, reject, bonus, block
    and unblock is appended to `<data_dir>/mock/ledger.jsonl` so a test or a curious researcher can see that
    the provider was asked.
    """

    type_name: ClassVar[str] = "mock"
    Args: ClassVar[type[ProviderArgs]] = MockProviderArgs
    RequesterArgs: ClassVar[type[RequesterArgs]] = MockRequesterArgs
    is_sandbox: ClassVar[bool] = True
    publishes_units: ClassVar[bool] = False  # no platform: launching a unit is only its status change
    default_requester_name: ClassVar[str | None] = "MOCK_REQUESTER"

    @classmethod
    def validate_credentials(cls, credentials: Mapping[str, Any]) -> dict[str, Any]:
        """Accept only an empty set of credentials: the mock provider has no account to log in to."""
        if credentials:
            given = ", ".join(sorted(str(key) for key in credentials))
            raise ProviderError(
                f"the mock provider takes no credentials, but got: {given}. "
                "Register it without key=value pairs: mephisto register mock NAME"
            )
        return {}

    def fee(self, amount: Decimal) -> Decimal:
        """Nobody takes a cut of pretend money."""
        return Decimal("0")

    def identify_worker(self, params: Mapping[str, str]) -> WorkerIdentity:
        """The worker is the `worker_id` query parameter; without one the visitor sees the preview."""
        if WORKER_ID_PARAM not in params:
            return WorkerIdentity(None)
        name = params[WORKER_ID_PARAM]
        problem = _worker_name_problem(name)
        if problem is not None:
            return WorkerIdentity(None, refusal=problem)
        return WorkerIdentity(worker_name=name)

    def worker_link(self, base_url: str, worker_name: str | None = None) -> str:
        """`base_url?worker_id=NAME`; without a name, a link with a placeholder to replace."""
        if worker_name is None:
            return f"{base_url}?{WORKER_ID_PARAM}=YOUR_NAME"
        return f"{base_url}?{WORKER_ID_PARAM}={quote(worker_name, safe='')}"

    def simulated_worker_params(self, worker_name: str) -> dict[str, str]:
        """A simulated worker opens the same link as a person: `?worker_id=NAME`."""
        return {WORKER_ID_PARAM: worker_name}

    def expire_units(self, units: Sequence[Unit]) -> None:
        """Nothing was published, so nothing needs withdrawing (and nothing is recorded)."""

    def approve_work(self, agent: Agent, feedback: str) -> None:
        """Record the approval in the ledger."""
        self._record_agent_action("approve", agent, feedback)

    def reject_work(self, agent: Agent, feedback: str) -> None:
        """Record the rejection in the ledger."""
        self._record_agent_action("reject", agent, feedback)

    def soft_reject_work(self, agent: Agent, feedback: str) -> None:
        """Record the soft rejection in the ledger (a platform would pay but mark the work unusable)."""
        self._record_agent_action("soft_reject", agent, feedback)

    def bonus_worker(self, worker: Worker, amount: Decimal, reason: str, unit: Unit | None) -> None:
        """Record the bonus in the ledger; a non-positive amount is refused as a real platform would."""
        if amount <= 0:
            raise ProviderError(f"a bonus must be more than 0, got {amount} for worker {worker.name!r}")
        append_entry(
            self.data_dir,
            "bonus",
            worker_name=worker.name,
            worker_id=worker.id,
            unit_id=None if unit is None else unit.id,
            agent_id=None if unit is None else unit.agent_id,
            amount=amount,
            reason=reason,
            requester_name=self.requester_name,
        )

    def block_worker(self, worker: Worker, reason: str) -> None:
        """Record the block in the ledger (the core keeps the worker away from new units)."""
        append_entry(
            self.data_dir,
            "block",
            worker_name=worker.name,
            worker_id=worker.id,
            reason=reason,
            requester_name=self.requester_name,
        )

    def unblock_worker(self, worker: Worker) -> None:
        """Record the unblock in the ledger."""
        append_entry(
            self.data_dir,
            "unblock",
            worker_name=worker.name,
            worker_id=worker.id,
            requester_name=self.requester_name,
        )

    def _record_agent_action(self, action: str, agent: Agent, feedback: str) -> None:
        worker = agent.worker
        append_entry(
            self.data_dir,
            action,
            worker_name=worker.name,
            worker_id=worker.id,
            unit_id=agent.unit_id,
            agent_id=agent.id,
            feedback=feedback,
            requester_name=self.requester_name,
        )


def _worker_name_problem(name: str) -> str | None:
    """Why `name` cannot be a worker name, in words for the person who opened the link; None if it can."""
    if not name.strip():
        return "This link has an empty worker_id. Ask for a link that ends in ?worker_id=YOUR_NAME."
    if len(name) > MAX_WORKER_NAME_LENGTH:
        return (
            f"The worker_id in this link is {len(name)} characters long; at most {MAX_WORKER_NAME_LENGTH} are allowed."
        )
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "The worker_id in this link contains control characters (such as a line break or tab)."
    return None
