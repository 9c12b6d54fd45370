"""A test provider standing for a paid platform: a 20 % fee, a balance, and bonuses paid once per key.

Its "platform" is the file `platform.jsonl` in the provider's data folder: one line per payment the platform made,
looked up by the idempotency key the core sends, as a real platform honours a client token (MTurk's
UniqueRequestToken). Environment switches let a test make it misbehave in a real process:
PAYTEST_KILL_AFTER_PAY=1 kills the process with SIGKILL right after the platform paid a bonus or approved (paid) a
unit's work (before the core commits),
PAYTEST_REFUSE=1 makes the platform refuse, PAYTEST_BALANCE=<amount> or `broken` sets what `balance()` says.
It approves and pays many in one request too (`approve_work_many`, `pay_bonus_many`), used when a test names them
in `calls_for_many`; such a request is one line `{"many": [keys]}` in `calls.jsonl`.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from mephisto_core.abstractions import BonusOrder, NoPlatformProvider
from mephisto_core.abstractions.provider import WorkerIdentity
from mephisto_core.data_model import Agent, Unit, Worker
from mephisto_core.errors import ProviderError
from mephisto_core.hookspecs import hookimpl

#: One request at a time at the file platform: the core asks it from several threads at once (bulk verdicts and
#: bonuses), and a real platform's requests do not see each other's half-written state.
_PLATFORM_LOCK = threading.Lock()


class PayTestProvider(NoPlatformProvider):
    """Workers as the mock's (`?worker_id=NAME`); payments through the file platform."""

    type_name = "paytest"
    default_requester_name = "PAYTEST"

    def fee(self, amount: Decimal) -> Decimal:
        return (Decimal(amount) * Decimal("0.2")).quantize(Decimal("0.01"))

    def fee_schedule(self) -> str:
        return "20% of every payment"

    def balance(self) -> Decimal | None:
        value = os.environ.get("PAYTEST_BALANCE")
        if value == "broken":
            raise ConnectionError("the platform did not answer")
        return None if value is None else Decimal(value)

    def identify_worker(self, params: Any) -> WorkerIdentity:
        return WorkerIdentity(params.get("worker_id") or None)

    def platform_path(self) -> Path:
        return Path(self.data_dir) / "platform.jsonl"

    def platform_payments(self) -> list[dict[str, Any]]:
        """Every payment the platform made, oldest first."""
        if not self.platform_path().exists():
            return []
        return [json.loads(line) for line in self.platform_path().read_text().splitlines() if line]

    def pay_bonus(
        self, worker: Worker, amount: Decimal, reason: str, unit: Unit | None, idempotency_key: str
    ) -> str | None:
        with _PLATFORM_LOCK:
            return self._pay_bonus(amount, idempotency_key)

    def _pay_bonus(self, amount: Decimal, idempotency_key: str, logged: bool = False) -> str:
        if not logged:
            self._log_call({"key": idempotency_key})
        for payment in self.platform_payments():
            if payment["key"] == idempotency_key:
                return str(payment["reference"])  # the platform knows this key: it pays nothing more
        if os.environ.get("PAYTEST_REFUSE") == "1":
            raise ProviderError("insufficient funds at the platform")
        reference = f"pay-{len(self.platform_payments()) + 1}"
        with self.platform_path().open("a") as fh:
            fh.write(json.dumps({"key": idempotency_key, "reference": reference, "amount": str(amount)}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if os.environ.get("PAYTEST_KILL_AFTER_PAY") == "1":
            os.kill(os.getpid(), signal.SIGKILL)  # paid at the platform, nothing committed here
        return reference

    def approve_work(self, agent: Agent, feedback: str) -> None:
        """Approve (and so pay) the agent's work at the platform; approving it again pays nothing more."""
        with _PLATFORM_LOCK:
            self._approve(agent)

    def approve_work_many(self, agents: Sequence[Agent], feedback: str) -> list[Exception | None]:
        """Approve several agents' work in one request (approving one again pays nothing more)."""
        with _PLATFORM_LOCK:
            self._log_call({"many": [f"approve:{agent.id}" for agent in agents]})
            for agent in agents:
                self._approve(agent, logged=True)
        return [None] * len(agents)

    def pay_bonus_many(self, bonuses: Sequence[BonusOrder]) -> list[str | Exception | None]:
        """Pay several bonuses in one request, each once per key."""
        with _PLATFORM_LOCK:
            self._log_call({"many": [order.idempotency_key for order in bonuses]})
            return [self._pay_bonus(order.amount, order.idempotency_key, logged=True) for order in bonuses]

    def block_worker_many(self, workers: Sequence[Worker], reason: str) -> list[Exception | None]:
        """Block several workers in one request."""
        with _PLATFORM_LOCK:
            self._log_call({"many": [f"block:{worker.name}" for worker in workers]})
        for worker in workers:
            self.block_worker(worker, reason)
        return [None] * len(workers)

    def _log_call(self, call: dict[str, Any]) -> None:
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        with (Path(self.data_dir) / "calls.jsonl").open("a") as calls:  # every request the platform received
            calls.write(json.dumps(call) + "\n")

    def _approve(self, agent: Agent, logged: bool = False) -> None:
        approvals = Path(self.data_dir) / "approvals.jsonl"
        if not logged:
            self._log_call({"key": f"approve:{agent.id}"})
        done = approvals.read_text().split() if approvals.exists() else []
        if str(agent.id) in done:
            return  # already approved there, as MTurk answers for an approved assignment
        with approvals.open("a") as fh:
            fh.write(f"{agent.id}\n")
            fh.flush()
            os.fsync(fh.fileno())
        if os.environ.get("PAYTEST_KILL_AFTER_PAY") == "1":
            os.kill(os.getpid(), signal.SIGKILL)


def platform_calls(data_dir: Path) -> list[str]:
    """The keys of every pay request the platform received, oldest first (a request for many: each of its keys)."""
    return [key for request in platform_requests(data_dir) for key in request]


def platform_requests(data_dir: Path) -> list[list[str]]:
    """Every request the platform received, oldest first, as the keys it asked for."""
    path = Path(data_dir) / "calls.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [call.get("many", [call.get("key")]) for call in map(json.loads, lines)]


class PayTestPlugin:
    @hookimpl
    def mephisto_register_providers(self, register: Any) -> None:
        register(PayTestProvider)
