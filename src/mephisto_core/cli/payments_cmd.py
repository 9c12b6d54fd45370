"""`mephisto payments`: what was paid, to whom, for what, and what is still pending, from the payments ledger."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from mephisto_core.operations.payments import PaymentRecord

#: Status order of the totals: what was paid, what may have been (pending), what was refused.
_STATUSES = ("paid", "pending", "failed")


@click.command()
@click.option("--task", "task_name", default=None, metavar="NAME", help="Only payments of this task.")
@click.option("--worker", "worker_name", default=None, metavar="ID", help="Only payments to this worker (their id).")
@click.option("--json", "as_json", is_flag=True, help="Print the payments and totals as JSON (for scripts).")
def payments(task_name: str | None, worker_name: str | None, as_json: bool) -> None:
    """List rewards and bonuses: to whom, for which unit, amount, platform fee, and whether paid or pending.

    `pending` means the provider was asked and the outcome is not known here (the process stopped before it
    recorded it): asking for the same bonus again (same unit, same key) settles it without paying twice.
    Totals are per currency and status, fees included.
    """
    from mephisto_core.cli.context import load_settings, open_settings_database
    from mephisto_core.operations.payments import list_payments

    settings = load_settings()
    database = open_settings_database(settings)
    try:
        records = list_payments(task=task_name, worker=worker_name)
    finally:
        database.close()
    totals = _totals(records)
    if as_json:
        click.echo(
            json.dumps(
                {"payments": [r.as_json() for r in records], "totals": totals},
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    _print(records, totals)


def _totals(records: list[PaymentRecord]) -> dict[str, dict[str, dict[str, str]]]:
    """{currency: {status: {"amount", "fee", "total"}}}, amounts as exact text."""
    sums: dict[str, dict[str, list[Decimal]]] = defaultdict(dict)
    for record in records:
        amount, fee = sums[record.currency].setdefault(record.status, [Decimal("0"), Decimal("0")])
        sums[record.currency][record.status] = [amount + record.amount, fee + record.fee]
    return {
        currency: {
            status: {"amount": str(v[0]), "fee": str(v[1]), "total": str(v[0] + v[1])}
            for status in _STATUSES
            if (v := by_status.get(status)) is not None
        }
        for currency, by_status in sorted(sums.items())
    }


def _print(records: list[PaymentRecord], totals: dict[str, dict[str, dict[str, str]]]) -> None:
    from rich.table import Table
    from rich.text import Text

    from mephisto_core.cli._tables import console

    out = console()
    if not records:
        out.print("No payments recorded.")
        return
    table = Table(title="Payments")
    for column in ("id", "when", "task", "worker", "unit", "kind", "amount", "fee", "status", "reason"):
        table.add_column(column, justify="right" if column in ("id", "unit", "amount", "fee") else "left")
    for r in records:
        status = r.status if not r.error else f"{r.status}: {r.error}"
        table.add_row(
            str(r.id),
            r.created_at.replace("T", " "),
            r.task or "",
            r.worker,
            "" if r.unit_id is None else str(r.unit_id),
            r.kind,
            f"{r.amount} {r.currency}",
            str(r.fee),
            Text(status, style={"paid": "green", "pending": "yellow", "failed": "red"}.get(r.status, "")),
            r.reason,
        )
    out.print(table)
    for currency, by_status in totals.items():
        parts = [f"{status} {v['total']} (fees {v['fee']})" for status, v in by_status.items()]
        out.print(Text(f"Total {currency}: " + ", ".join(parts)))
    if any(r.status == "pending" for r in records):
        out.print(
            Text(
                "Pending: the provider was asked but the outcome was not recorded. Asking for the same bonus again "
                "(same unit and key, e.g. the same review page) settles it without paying twice.",
                style="yellow",
            )
        )
