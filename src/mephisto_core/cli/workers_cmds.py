"""`mephisto qualifications ...` and `mephisto workers ...`: who may work, managed from the terminal."""

from __future__ import annotations

import json
from typing import IO, Any

import click

from mephisto_core.cli._worker_changes import ChangeMaker, change_workers, worker_names, workers_from_option
from mephisto_core.cli._worker_changes import session as _session


def _print(rows: list[dict[str, Any]], as_json: bool, title: str, empty: str) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo(empty)
        return
    from rich.table import Table

    from mephisto_core.cli._tables import console

    table = Table(title=title)
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console().print(table)


provider_option = click.option("--provider", default=None, help="Provider type, when several know the name.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
#: review records `mephisto workers show` lists by default: a busy worker's history runs to thousands
SHOWN_REVIEWS = 50


@click.group()
def qualifications() -> None:
    """Create, list, grant, revoke and show qualifications."""


@qualifications.command("create")
@click.argument("name")
@click.option("--description", default="", help="What holding it means.")
def create(name: str, description: str) -> None:
    """Create qualification NAME."""
    from mephisto_core.data_model.qualifications import create_qualification

    with _session() as (database, _), database.write():
        create_qualification(name, description)
    click.echo(f"Created qualification {name!r}.")


@qualifications.command("list")
@json_option
def list_qualifications(as_json: bool) -> None:
    """Every qualification with how many workers hold it."""
    import peewee as pw

    from mephisto_core.data_model import GrantedQualification, Qualification

    with _session():
        query = (
            Qualification.select(Qualification, pw.fn.COUNT(GrantedQualification.id).alias("holders"))
            .join(GrantedQualification, pw.JOIN.LEFT_OUTER)
            .group_by(Qualification.id)
            .order_by(Qualification.name)
        )
        rows = [{"name": q.name, "holders": q.holders, "description": q.description} for q in query]
    _print(rows, as_json, "Qualifications", "No qualifications yet.")


@qualifications.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """The workers holding qualification NAME, with their values."""
    from mephisto_core.data_model import GrantedQualification, Qualification, Worker
    from mephisto_core.errors import NotFound

    with _session():
        qualification = Qualification.get_or_none(Qualification.name == name)
        if qualification is None:
            raise NotFound(f"no qualification named {name!r}; see `mephisto qualifications list`")
        grants = (
            GrantedQualification.select(GrantedQualification, Worker)
            .join(Worker)
            .where(GrantedQualification.qualification == qualification)
            .order_by(Worker.name)
        )
        rows = [
            {"worker": g.worker.name, "provider": g.worker.provider_type, "value": g.value, "updated": g.updated_at}
            for g in grants
        ]
    _print(rows, as_json, f"Holders of {name}", f"Nobody holds {name!r}.")


@qualifications.command("grant")
@click.argument("name")
@click.argument("workers", nargs=-1)
@workers_from_option
@click.option("--value", type=int, default=1, show_default=True)
@provider_option
@json_option
def grant(
    name: str, workers: tuple[str, ...], workers_from: IO[str] | None, value: int, provider: str | None, as_json: bool
) -> None:
    """Grant qualification NAME to each WORKER (the provider's worker id), also before they ever opened a task."""
    change_workers(
        worker_names(workers, workers_from),
        provider,
        lambda actions, found: actions.grant_change(found.id, name, value),
        lambda worker: f"Granted {name!r} = {value} to {worker}.",
        add_unknown=True,
        qualifications=[name],
        as_json=as_json,
    )


@qualifications.command("revoke")
@click.argument("name")
@click.argument("workers", nargs=-1)
@workers_from_option
@provider_option
@json_option
def revoke(
    name: str, workers: tuple[str, ...], workers_from: IO[str] | None, provider: str | None, as_json: bool
) -> None:
    """Take qualification NAME away from each WORKER."""
    change_workers(
        worker_names(workers, workers_from),
        provider,
        lambda actions, found: actions.revoke_change(found.id, name),
        lambda worker: f"Revoked {name!r} from {worker}.",
        add_unknown=False,
        qualifications=[name],
        as_json=as_json,
    )


@click.group()
def workers() -> None:
    """Block, unblock, list and show workers."""


@workers.command("block")
@click.argument("workers", nargs=-1)
@workers_from_option
@click.option("--reason", required=True, help="Why (recorded; some providers show it to the worker).")
@click.option("--task", default=None, help="Block from this task only (else from every task, also at the provider).")
@provider_option
@json_option
def block(
    workers: tuple[str, ...],
    workers_from: IO[str] | None,
    reason: str,
    task: str | None,
    provider: str | None,
    as_json: bool,
) -> None:
    """Block each WORKER from every task, or from one with --task; also before they ever opened a task.

    The block always holds in mephisto's own check; each provider the worker worked through is told too, and
    the output says for each whether its platform blocked them or cannot.
    """
    if not reason.strip():
        from mephisto_core.errors import MephistoError

        raise MephistoError("blocking a worker needs a reason")
    if task is None:
        change: ChangeMaker = lambda actions, found: actions.block_change(found.id, reason)  # noqa: E731
        where = "from every task"
    else:
        change = lambda actions, found: actions.block_for_task_change(found.id, task, reason)  # noqa: E731
        where = f"from task {task!r}"
    names = worker_names(workers, workers_from)
    change_workers(
        names, provider, change, lambda worker: f"Blocked {worker} {where}.", add_unknown=True, as_json=as_json
    )


@workers.command("unblock")
@click.argument("workers", nargs=-1)
@workers_from_option
@click.option("--task", default=None, help="Lift only the block from this task.")
@provider_option
@json_option
def unblock(
    workers: tuple[str, ...], workers_from: IO[str] | None, task: str | None, provider: str | None, as_json: bool
) -> None:
    """Lift a block (here and at each provider that can)."""
    if task is None:
        change: ChangeMaker = lambda actions, found: actions.unblock_change(found.id)  # noqa: E731
        where = ""
    else:
        change = lambda actions, found: actions.unblock_for_task_change(found.id, task)  # noqa: E731
        where = f" for task {task!r}"
    names = worker_names(workers, workers_from)
    change_workers(
        names, provider, change, lambda worker: f"Unblocked {worker}{where}.", add_unknown=False, as_json=as_json
    )


@workers.command("list")
@click.option("--blocked", is_flag=True, help="Only blocked workers.")
@json_option
def list_workers(blocked: bool, as_json: bool) -> None:
    """Workers with their units and approval rate."""
    from mephisto_core.operations.review.worker_stats import worker_summaries

    with _session():
        rows = worker_summaries(blocked_only=blocked)
    if as_json or not rows:
        _print(rows, as_json, "Workers", "No workers yet.")
        return
    _print_worker_table(rows)


def _print_worker_table(rows: list[dict[str, Any]]) -> None:
    """The workers as a table that fits an 80-column terminal: a 24-character Prolific id and the longest
    provider name fit whole; the three verdict counts share one column (accepted/soft-rejected/rejected)."""
    from rich import box
    from rich.table import Table

    from mephisto_core.cli._tables import console

    table = Table(
        title="Workers",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        caption="done: submitted units; waiting: awaiting review; a/s/r: accepted/soft-rejected/rejected; "
        "rate: approval rate",
    )
    table.add_column("worker", overflow="fold", min_width=14)
    table.add_column("provider", overflow="fold")
    for header in ("done", "waiting", "a/s/r", "rate"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("blocked", no_wrap=True)
    for row in rows:
        rate = row["approval_rate"]
        table.add_row(
            str(row["worker"]),
            str(row["provider"]),
            str(row["submitted"]),
            str(row["awaiting_review"]),
            f"{row['approved']}/{row['soft_rejected']}/{row['rejected']}",
            "-" if rate is None else f"{rate:.0%}",
            "yes" if row["blocked"] else "",
        )
    console().print(table)


@workers.command("show")
@click.argument("worker")
@provider_option
@click.option(
    "--reviews",
    "recent",
    type=click.IntRange(min=0),
    default=SHOWN_REVIEWS,
    show_default=True,
    help="How many of the latest review records to show (0: all of them).",
)
@json_option
def show_worker(worker: str, provider: str | None, recent: int, as_json: bool) -> None:
    """One worker: units, approval rate, qualifications, blocks and review history."""
    from mephisto_core.data_model.qualifications import find_worker
    from mephisto_core.operations.review.worker_stats import worker_details

    with _session():
        details = worker_details(find_worker(worker, provider), recent_reviews=recent or None)
    if as_json:
        click.echo(json.dumps(details, indent=2, default=str))
        return
    _print_worker_details(details)


def _print_worker_details(details: dict[str, Any]) -> None:
    """The summary as lines and the qualifications and latest reviews as tables, readable at 80 columns."""
    from rich.table import Table

    from mephisto_core.cli._tables import console

    summary = details["summary"]
    rate = summary["approval_rate"]
    click.echo(f"Worker {summary['worker']} ({summary['provider']})")
    click.echo(
        f"  units submitted: {summary['submitted']} (awaiting review {summary['awaiting_review']}, accepted "
        f"{summary['approved']}, soft-rejected {summary['soft_rejected']}, rejected {summary['rejected']})"
    )
    click.echo(f"  approval rate: {'-' if rate is None else f'{rate:.0%}'}")
    click.echo(f"  blocked: {'yes' if summary['blocked'] else 'no'}")
    out = console()
    if details["qualifications"]:
        table = Table(title="Qualifications")
        for column in ("name", "value", "updated"):
            table.add_column(column, overflow="fold")
        for qualification in details["qualifications"]:
            table.add_row(qualification["name"], str(qualification["value"]), _when(qualification["updated"]))
        out.print(table)
    else:
        click.echo("No qualifications.")
    reviews, count = details["reviews"], details["review_count"]
    if not reviews:
        click.echo("No reviews yet.")
        return
    shown = f"the latest {len(reviews):,} of {count:,} (--reviews 0 shows all)" if count > len(reviews) else ""
    table = Table(title="Review history", caption=shown or None)
    for column in ("kind", "unit", "amount", "feedback", "when"):
        table.add_column(column, overflow="fold")
    for review in reviews:
        amount = "" if review["amount"] is None else str(review["amount"])
        table.add_row(
            review["kind"], str(review["unit"] or ""), amount, review["feedback"] or "", _when(review["when"])
        )
    out.print(table)


def _when(moment: Any) -> str:
    """A stored time to the second (the database keeps microseconds nobody reads)."""
    return str(moment)[:19] if moment is not None else ""
