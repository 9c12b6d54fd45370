"""`mephisto review approve | reject | soft-reject | bonus`: decide or pay many units from a shell or a script.

The units are named by id (arguments, or `--units-from FILE`, one id per line, `-` for standard input) or by the
export's filters (`--task`, `--run`, `--worker`, `--since`, `--until`, `--status`). With filters a verdict takes
the units awaiting review and a bonus the submitted units not rejected, so running the same command again after
an interruption picks up the rest, and a bonus (keyed by its amount and reason unless `--key` says otherwise) is
never paid twice. Money moves only after a confirmation: a prompt in a terminal, `--yes` in a script.

The work goes through `ReviewActions.decide_all` / `bonus_all`, as the review app's bulk actions: the platform is
asked for several units at once, or for many in one call where it can (Prolific), and each outcome is recorded as
it comes. One line per refused unit on standard error (JSON lines on standard output with `--json`); the exit
status is 1 when any unit was refused.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from mephisto_core.data_model import Database
    from mephisto_core.errors import MephistoError
    from mephisto_core.operations.review.actions import ReviewActions

#: Recorded as the reviewer of every action taken by these commands.
REVIEWER = "review-command"
#: Units decided or paid per call of `decide_all` / `bonus_all`: each call's payment intents are committed before
#: its first platform call, so a chunk bounds what an interrupted command leaves pending.
UNITS_PER_CHUNK = 500
#: The statuses filters select when none is named: those awaiting a verdict, those a bonus suits.
VERDICT_STATUSES = ("completed",)
BONUS_STATUSES = ("completed", "accepted", "soft_rejected")


@dataclass(frozen=True)
class Selection:
    """Which units a command acts on, as given on its command line (see the module docstring)."""

    unit_ids: tuple[int, ...]
    units_from: IO[str] | None
    task: str | None
    run_id: int | None
    worker: str | None
    since: str | None
    until: str | None
    statuses: tuple[str, ...]

    def has_filters(self) -> bool:
        fields = (self.task, self.run_id, self.worker, self.since, self.until)
        return any(value is not None for value in fields) or bool(self.statuses)

    def resolve(self, database: Database, default_statuses: tuple[str, ...]) -> list[int]:
        """The unit ids, in order: as given (each once), or matching the filters, oldest first."""
        named = list(self.unit_ids) + (_read_ids(self.units_from) if self.units_from is not None else [])
        if named and self.has_filters():
            raise click.UsageError("name units by id or by filters (--task, --run, ...), not both")
        if named:
            return list(dict.fromkeys(named))
        if not self.has_filters():
            raise click.UsageError(
                "name the units: unit ids, --units-from FILE, or filters (--task, --run, --worker, --since, --until, "
                "--status)"
            )
        from mephisto_core.operations.data_browser import DataBrowser
        from mephisto_core.operations.unit_filters import UnitQuery

        query = UnitQuery(
            task=self.task,
            run_id=self.run_id,
            worker=self.worker,
            since=self.since,
            until=self.until,
            statuses=self.statuses or default_statuses,
        )
        return DataBrowser(database).unit_ids_filtered(query.resolve())


def _read_ids(stream: IO[str]) -> list[int]:
    ids = []
    for number, line in enumerate(stream, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            ids.append(int(text))
        except ValueError:
            name = getattr(stream, "name", "the unit list")
            message = f"line {number} of {name} is {text!r}, not a unit id"
            raise click.BadParameter(message, param_hint="--units-from") from None
    return ids


def selection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options and arguments that name the units (`Selection`)."""
    decorators = [
        click.argument("unit_ids", nargs=-1, type=click.IntRange(min=1)),
        click.option(
            "--units-from",
            type=click.File("r"),
            metavar="FILE",
            help="Unit ids, one per line (# starts a comment); - reads standard input.",
        ),
        click.option("--task", metavar="NAME", help="Units of this task."),
        click.option("--run", "run_id", type=int, metavar="ID", help="Units of this task run."),
        click.option("--worker", metavar="NAME", help="Units of this worker (the provider's worker id)."),
        click.option("--since", metavar="DATE", help="Units submitted at or after DATE (ISO, UTC unless an offset)."),
        click.option("--until", metavar="DATE", help="Units submitted before DATE; a date alone includes that day."),
        click.option(
            "--status",
            "statuses",
            multiple=True,
            metavar="STATUS",
            help="Units in this status (repeatable); by default those awaiting review (a bonus: also decided ones).",
        ),
        click.option("--yes", is_flag=True, help="Do not ask for confirmation (needed when not in a terminal)."),
        click.option("--dry-run", is_flag=True, help="Only say which units would be acted on."),
        click.option("--json", "as_json", is_flag=True, help="One JSON line per unit on standard output."),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def _selection(options: dict[str, Any]) -> Selection:
    return Selection(
        tuple(options.pop("unit_ids")),
        options.pop("units_from"),
        options.pop("task"),
        options.pop("run_id"),
        options.pop("worker"),
        options.pop("since"),
        options.pop("until"),
        tuple(options.pop("statuses")),
    )


@click.command("approve")
@selection_options
@click.option("--feedback", default="", help="What the workers are told (optional).")
def approve(feedback: str, **options: Any) -> None:
    """Approve units (their workers are paid); by default those of the filters that await review."""
    _decide("approve", feedback, options)


@click.command("reject")
@selection_options
@click.option("--feedback", required=True, help="What the workers are told: why their work is rejected.")
def reject(feedback: str, **options: Any) -> None:
    """Reject units (their workers are not paid); feedback saying why is required."""
    _decide("reject", feedback, options)


@click.command("soft-reject")
@selection_options
@click.option("--feedback", default="", help="What the workers are told (optional).")
def soft_reject(feedback: str, **options: Any) -> None:
    """Pay for units but mark their work as not usable."""
    _decide("soft-reject", feedback, options)


@click.command("bonus")
@selection_options
@click.option("--amount", required=True, metavar="AMOUNT", help="The bonus per unit, e.g. 0.50 (task's currency).")
@click.option("--reason", required=True, help="What the workers are told: why they get it.")
@click.option(
    "--key",
    "client_key",
    metavar="KEY",
    help="The bonus's key: asked again, a key pays once. Default: the amount and reason (a second, deliberate "
    "bonus of the same amount and reason needs a key of its own).",
)
def bonus(amount: str, reason: str, client_key: str | None, **options: Any) -> None:
    """Pay the worker of each unit a bonus; by default units of the filters that were submitted and not rejected."""
    from mephisto_core.operations.review.actions import money

    value = money(amount)
    if not reason.strip():
        raise click.BadParameter("the workers see the reason: write one", param_hint="--reason")

    def act(actions: ReviewActions, chunk: Sequence[int]) -> list[MephistoError | None]:
        paid = actions.bonus_all(chunk, value, reason, client_key)
        return [outcome if not isinstance(outcome, bool) else None for outcome in paid]

    def question(count: int) -> str:
        return f"Pay a bonus of {value} on each of {count} unit(s), {value * count} in all before the platform's fees?"

    _run(f"bonus of {value}", BONUS_STATUSES, options, act, question)


def _decide(action: str, feedback: str, options: dict[str, Any]) -> None:
    from mephisto_core.data_model import ReviewKind

    kind = {"approve": ReviewKind.APPROVE, "reject": ReviewKind.REJECT, "soft-reject": ReviewKind.SOFT_REJECT}[action]
    if kind is ReviewKind.REJECT and not feedback.strip():
        raise click.BadParameter("the workers are told why: write it", param_hint="--feedback")

    def act(actions: ReviewActions, chunk: Sequence[int]) -> list[MephistoError | None]:
        return actions.decide_all(chunk, kind, feedback)

    _run(action, VERDICT_STATUSES, options, act, lambda count: f"{action.capitalize()} {count} unit(s)?")


def _run(
    action: str,
    default_statuses: tuple[str, ...],
    options: dict[str, Any],
    act: Callable[[ReviewActions, Sequence[int]], list[MephistoError | None]],
    question: Callable[[int], str],
) -> None:
    """Select the units, confirm (`question(count)`), then act on them a chunk at a time, saying what was refused
    and why."""
    from mephisto_core.cli.context import load_settings, open_settings_database
    from mephisto_core.operations.review.actions import ReviewActions

    selection = _selection(options)
    settings = load_settings()
    database = open_settings_database(settings)
    try:
        unit_ids = selection.resolve(database, default_statuses)
        if options["dry_run"]:
            _say_selected(action, unit_ids, as_json=options["as_json"])
            return
        if not unit_ids:
            click.echo(f"{action}: no unit matches; nothing done.", err=True)
            return
        _confirm(action, len(unit_ids), options["yes"], question)
        actions = ReviewActions(database, settings, reviewer=REVIEWER)
        refused = _act_in_chunks(action, unit_ids, lambda chunk: act(actions, chunk), options["as_json"])
    finally:
        database.close()
    if refused:
        raise SystemExit(1)


def _say_selected(action: str, unit_ids: list[int], *, as_json: bool) -> None:
    if as_json:
        for unit_id in unit_ids:
            click.echo(json.dumps({"unit_id": unit_id, "action": action, "dry_run": True}))
    click.echo(f"{action}: {len(unit_ids)} unit(s) would be acted on (dry run: nothing done).", err=True)


def _confirm(action: str, count: int, yes: bool, question: Callable[[int], str]) -> None:
    if yes:
        return
    if not _in_terminal():
        raise click.UsageError(f"this would {action} {count} unit(s): add --yes to confirm (no terminal to ask in)")
    click.confirm(question(count), abort=True, err=True)


def _in_terminal() -> bool:
    return sys.stdin.isatty()


def _act_in_chunks(
    action: str, unit_ids: list[int], act: Callable[[Sequence[int]], list[MephistoError | None]], as_json: bool
) -> int:
    """Act on `unit_ids` UNITS_PER_CHUNK at a time; the number refused. Interrupted, says what was done."""
    done = refused = 0
    try:
        for start in range(0, len(unit_ids), UNITS_PER_CHUNK):
            chunk = unit_ids[start : start + UNITS_PER_CHUNK]
            why: dict[str, list[int]] = {}  # a reason shared by many units (a feedback too short) said once
            for unit_id, error in zip(chunk, act(chunk), strict=True):
                if error is None:
                    done += 1
                else:
                    refused += 1
                    why.setdefault(str(error), []).append(unit_id)
                if as_json:
                    reason = None if error is None else str(error)
                    click.echo(json.dumps({"unit_id": unit_id, "action": action, "error": reason}))
            if not as_json:
                for reason, ids in why.items():
                    click.echo(f"{_units_named(ids)}: {reason}", err=True)
            if len(unit_ids) > UNITS_PER_CHUNK:
                click.echo(f"{action}: {done + refused} of {len(unit_ids)} units...", err=True)
    except KeyboardInterrupt:
        click.echo(
            f"{action}: interrupted after {done} done, {refused} refused; the others were not asked (or are "
            "pending when their platform was: the same command again finishes them, paying each worker once).",
            err=True,
        )
        raise SystemExit(130) from None
    click.echo(f"{action}: {done} done, {refused} refused.", err=True)
    return refused


def _units_named(ids: list[int], most: int = 10) -> str:
    """`unit 7`, or `units 7, 9, 12 and 40 more` for many."""
    if len(ids) == 1:
        return f"unit {ids[0]}"
    shown = ", ".join(str(unit_id) for unit_id in ids[:most])
    return f"units {shown}" + (f" and {len(ids) - most} more" if len(ids) > most else "")
