"""NoPlatformProvider: the base of providers with no crowd platform behind them (mock, in-house, a lab's own).

With nobody to publish to or pay through, such a provider's verdicts and worker actions (approve, reject, soft
reject, block, unblock) are lines of its ActionLedger: the record that the researcher asked, read back by tests.
Money is not in that file: every reward and bonus is a row of the core's payments ledger in the database (written
by the review operations around `pay_bonus` / `approve_work`), which `mephisto payments` lists for the researcher
who pays by hand. A subclass keeps only what differs: who its workers are, its links, and where its ledger lives.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mephisto_core.abstractions.ledger import ActionLedger
from mephisto_core.abstractions.provider import CrowdProvider
from mephisto_core.errors import ProviderError

if TYPE_CHECKING:
    from mephisto_core.data_model import Agent, Unit, Worker

#: The fields an action may carry besides the worker, in the order they are written.
LEDGER_ACTION_FIELDS = ("unit_id", "agent_id", "amount", "feedback", "reason")


class NoPlatformProvider(CrowdProvider):
    """Base class of a provider with no platform: nothing published per unit, no fee, review actions go to a ledger.

    Every entry is `{"action", "worker_name", "worker_id", <ledger_worker_fields>, <the action's fields>,
    "requester_name", "timestamp"}`, fsynced before the action returns; amounts are decimal strings. Override
    `ledger_worker_fields` to add what the provider knows about a worker (the in-house provider adds the email
    the researcher gave). `record_review_action` is the one place an action is written, so a provider that keeps
    its record elsewhere overrides that method alone.
    """

    publishes_units: ClassVar[bool] = False  # launching a unit is only its status change
    #: Where the ledger lives, relative to the provider's data folder (`self.data_dir`).
    ledger_file: ClassVar[str] = "ledger.jsonl"
    #: The provider's name in ledger errors ("the in-house provider could not record ..."); default `type_name`.
    ledger_owner: ClassVar[str | None] = None
    #: True: every entry carries all of LEDGER_ACTION_FIELDS, null where the action has none (the mock ledger's
    #: format). False: an entry carries only the fields its action has.
    ledger_lists_every_field: ClassVar[bool] = False

    def fee(self, amount: Decimal) -> Decimal:
        """No platform, no fee."""
        return Decimal("0")

    def fee_schedule(self) -> str:
        """No platform, no fee (the researcher pays workers directly)."""
        return "no platform fee (you pay workers yourself)"

    def ledger_path(self) -> Path:
        """The ledger file of this provider."""
        return Path(self.data_dir) / self.ledger_file

    def ledger(self) -> ActionLedger:
        """The ledger review actions are written to (and read back from)."""
        return ActionLedger(self.ledger_path(), self.ledger_owner or self.type_name)

    def ledger_worker_fields(self, worker: Worker) -> dict[str, Any]:
        """Extra fields about `worker` written after its name and id in every entry (none by default)."""
        return {}

    def record_review_action(self, action: str, worker: Worker, **fields: Any) -> dict[str, Any]:
        """Write one review action about `worker` (fields among LEDGER_ACTION_FIELDS); return the entry written."""
        unknown = set(fields) - set(LEDGER_ACTION_FIELDS)
        if unknown:
            # A programming error in a subclass, caught before a line the readers do not expect is written.
            raise ValueError(f"unknown ledger fields {sorted(unknown)}; allowed: {', '.join(LEDGER_ACTION_FIELDS)}")
        ordered = {
            name: fields.get(name) for name in LEDGER_ACTION_FIELDS if self.ledger_lists_every_field or name in fields
        }
        if ordered.get("amount") is not None:
            ordered["amount"] = str(ordered["amount"])  # a string keeps the exact decimal (0.10 stays 0.10)
        return self.ledger().append(
            action,
            worker_name=worker.name,
            worker_id=worker.id,
            **self.ledger_worker_fields(worker),
            **ordered,
            requester_name=self.requester_name,
        )

    def approve_work(self, agent: Agent, feedback: str) -> None:
        """Record the approval in the ledger."""
        self._record_agent_action("approve", agent, feedback)

    def reject_work(self, agent: Agent, feedback: str) -> None:
        """Record the rejection in the ledger."""
        self._record_agent_action("reject", agent, feedback)

    def soft_reject_work(self, agent: Agent, feedback: str) -> None:
        """Record the soft rejection (work kept apart as unusable, the person still thanked) in the ledger."""
        self._record_agent_action("soft_reject", agent, feedback)

    def bonus_worker(self, worker: Worker, amount: Decimal, reason: str, unit: Unit | None) -> None:
        """Accept a bonus for the researcher to pay by hand; only an amount above 0 is a bonus.

        Nothing is written here: the core's payments ledger (database) holds the bonus, its key and outcome.
        """
        if amount <= 0:
            raise ProviderError(f"a bonus must be more than 0, got {amount} for worker {worker.name!r}")

    def pay_bonus(
        self, worker: Worker, amount: Decimal, reason: str, unit: Unit | None, idempotency_key: str
    ) -> str | None:
        """No platform to pay through: the payments ledger row is the whole record; its reference is the key."""
        self.bonus_worker(worker, amount, reason, unit)
        return f"{self.type_name}:{idempotency_key}"

    def block_worker(self, worker: Worker, reason: str) -> None:
        """Record the block in the ledger (the core keeps a blocked worker away from new units)."""
        self.record_review_action("block", worker, reason=reason)

    def unblock_worker(self, worker: Worker) -> None:
        """Record the unblock in the ledger."""
        self.record_review_action("unblock", worker)

    def _record_agent_action(self, action: str, agent: Agent, feedback: str) -> None:
        self.record_review_action(action, agent.worker, unit_id=agent.unit_id, agent_id=agent.id, feedback=feedback)
