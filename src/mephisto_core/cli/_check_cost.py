"""The money part of `mephisto check`: the worst-case cost (every unit paid, the bonus budget, the platform's fees),
the task's budget cap and the platform balance when the provider can tell it.

A balance that cannot be read (no credentials yet, the platform down) is a warning line, never a failed check.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from mephisto_core.abstractions import CrowdProvider
    from mephisto_core.settings import Settings
    from mephisto_core.task_config import TaskConfig


@dataclass(frozen=True)
class CostReport:
    """What the task may cost at most, against its cap and the balance the platform reports."""

    currency: str
    cost: Decimal  # every unit's reward (gold included) and its fee
    fee_schedule: str
    bonus_budget: Decimal
    bonus_fee: Decimal
    max_budget: Decimal | None
    balance: Decimal | None  # None: the provider cannot tell, or reading it failed (`balance_warning`)
    balance_warning: str = ""

    @property
    def worst_case(self) -> Decimal:
        """Every unit paid, the whole bonus budget, and the platform's fees on both."""
        return self.cost + self.bonus_budget + self.bonus_fee


def build_cost(
    config: TaskConfig, settings: Settings, provider: CrowdProvider, requester_name: str | None, cost: Decimal
) -> CostReport:
    """Price the bonus budget with the provider's fee and ask the platform's balance (see module docstring)."""
    bonus_budget = config.task.bonus_budget
    balance, warning = _platform_balance(config, settings, provider, requester_name)
    return CostReport(
        currency=config.task.currency,
        cost=cost,
        fee_schedule=provider.fee_schedule(),
        bonus_budget=bonus_budget,
        bonus_fee=Decimal(provider.fee(bonus_budget)) if bonus_budget else Decimal("0"),
        max_budget=config.task.max_budget,
        balance=balance,
        balance_warning=warning,
    )


def _platform_balance(
    config: TaskConfig, settings: Settings, provider: CrowdProvider, requester_name: str | None
) -> tuple[Decimal | None, str]:
    from mephisto_core.abstractions import CrowdProvider
    from mephisto_core.settings import requester_credentials

    if type(provider).balance is CrowdProvider.balance:
        return None, ""  # the provider does not report a balance: nothing to ask
    if not requester_name:
        return None, "no requester to read the platform balance of (set provider.requester_name)"
    try:
        # Credentials only for this call, never printed: check itself needs no secrets.
        credentials = requester_credentials(settings.config_file, requester_name)
        with_credentials = type(provider)(provider.args, requester_name, credentials, provider.data_dir)
        value = with_credentials.balance()
        return (None if value is None else Decimal(value)), ""
    except Exception as exc:  # a warning, not a failed check: the platform may be down, the key not registered yet
        return None, f"could not read the platform balance of {requester_name!r}: {type(exc).__name__}: {exc}"


def cost_json(report: CostReport) -> dict[str, Any]:
    """The report's money keys for `check --json` (amounts as exact text)."""
    from mephisto_core.operations.budget import money_text

    return {
        "fee_schedule": report.fee_schedule,
        "bonus_budget": money_text(report.bonus_budget),
        "bonus_fee": money_text(report.bonus_fee),
        "worst_case_cost": money_text(report.worst_case),
        "currency": report.currency,
        "max_budget": None if report.max_budget is None else money_text(report.max_budget),
        "balance": None if report.balance is None else money_text(report.balance),
        "balance_warning": report.balance_warning or None,
    }


def print_cost(out: Console, report: CostReport) -> None:
    """The lines after `Estimated cost`: bonus budget, worst case, cap and balance."""
    from rich.text import Text

    from mephisto_core.operations.budget import money_text as m

    cur = report.currency
    if report.bonus_budget:
        out.print(Text(f"Bonus budget:   {m(report.bonus_budget)} + fee {m(report.bonus_fee)}"))
    out.print(Text(f"Worst case:     {m(report.worst_case)} {cur} (every unit paid, the bonus budget, fees)"))
    if report.max_budget is not None:
        if report.worst_case > report.max_budget:
            out.print(
                Text(
                    f"Max budget:     {m(report.max_budget)} {cur}, below the worst case: offering units and paying "
                    "bonuses stop where what is committed would pass it",
                    style="yellow",
                )
            )
        else:
            out.print(Text(f"Max budget:     {m(report.max_budget)} {cur} (the worst case fits)"))
    if report.balance is not None:
        short = report.balance < report.worst_case
        note = " (less than the worst case)" if short else ""
        out.print(Text(f"Balance:        {m(report.balance)} {cur}{note}", style="yellow" if short else ""))
    elif report.balance_warning:
        out.print(Text(f"Warning: {report.balance_warning}", style="yellow"))
