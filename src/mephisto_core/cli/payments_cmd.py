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
#: Paid payments the table lists by default: a study's ledger runs to tens of thousands of rows (20,000 took 23 s
#: and 40,000 lines to print), and the totals cover them all.
SHOWN_PAID = 50


@click.command()
@click.option("--task", "task_name", default=None, metavar="NAME", help="Only payments of this task.")
@click.option("--worker", "worker_name", default=None, metavar="ID", help="Only payments to this worker (their id).")
@click.option(
    "--paid",
    "shown_paid",
    type=click.IntRange(min=0),
    default=SHOWN_PAID,
    show_default=True,
    help="How many of the latest paid payments to list (0: all); pending and failed ones are always listed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print every payment and the totals as JSON (for scripts).")
def payments(task_name: str | None, worker_name: str | None, shown_paid: int, as_json: bool) -> None:
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
    _print(records, totals, shown_paid)


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


def _shown(records: list[PaymentRecord], shown_paid: int) -> list[PaymentRecord]:
    """Every pending and failed payment, and the latest `shown_paid` paid ones (all when 0), oldest first."""
    paid = [r.id for r in records if r.status == "paid"]
    kept = set(paid[-shown_paid:] if shown_paid else paid)
    return [r for r in records if r.status != "paid" or r.id in kept]


def _print(records: list[PaymentRecord], totals: dict[str, dict[str, dict[str, str]]], shown_paid: int) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from mephisto_core.cli._tables import console

    out = console()
    if not records:
        out.print("No payments recorded.")
        return
    shown = _shown(records, shown_paid)
    hidden = len(records) - len(shown)
    caption = f"{len(shown):,} of {len(records):,} payments: {hidden:,} older paid ones left out (--paid 0 lists all)"
    # Sized for an 80-column terminal, as `workers list`: light rules, text columns folded rather than cut.
    table = Table(
        title="Payments",
        caption=caption if hidden else None,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in ("when", "task", "worker", "unit", "kind", "amount", "fee", "status", "reason"):
        whole = column not in ("task", "worker", "reason")  # numbers, dates and words kept on one line
        numeric = column in ("unit", "amount", "fee")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold", no_wrap=whole)
    refusals = [r for r in shown if r.error]
    numbers = {r.id: number for number, r in enumerate(refusals, start=1)}
    for r in shown:
        # A refusal's words go under the table, numbered: a sentence in a column squeezes every other one.
        status = f"{r.status} [{numbers[r.id]}]" if r.error else r.status
        table.add_row(
            r.created_at.replace("T", " ")[:16],
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
    for number, r in enumerate(refusals, start=1):
        out.print(Text(f"[{number}] {r.kind} of {r.amount} {r.currency} to {r.worker}: {r.error}", style="red"))
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
