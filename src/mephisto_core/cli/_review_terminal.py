"""`mephisto review --cli`: each submitted, unreviewed unit in the terminal, decided with one key.

The keys are the review app's: j / k next / previous unit (n / p too), a approve, r reject (asks for feedback),
s soft-reject, b bonus (asks amount and reason), ? help; then B block the worker (asks a reason), q quit, and
A / R approve / reject this unit and every later one of the same worker. On a terminal a key press is enough; when
stdin is not a terminal (a pipe, a test) each answer is one line.
"""

from __future__ import annotations

import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

import click
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mephisto_core.data_model import ReviewKind, UnitStatus, Worker
from mephisto_core.errors import MephistoError
from mephisto_core.operations.data_browser import DataBrowser
from mephisto_core.operations.review.actions import ReviewActions
from mephisto_core.operations.review.worker_stats import worker_summary

if TYPE_CHECKING:
    from mephisto_core.data_model import Database
    from mephisto_core.operations.export.records import UnitRecord
    from mephisto_core.settings import Settings

REVIEWER = "review-cli"
#: units read from the database at a time, as the reviewer reaches them
READ_AHEAD = 50
KEYS_LINE = "j/k next/previous  [a]pprove  [r]eject  [s]oft-reject  [b]onus  [B]lock worker  [q]uit  A/R  ?"
HELP = """j  next unit, leaving this one undecided (n too)
k  previous unit (p too)
a  approve the unit
r  reject it (you are asked for feedback, which the worker sees)
s  soft-reject it (paid, but the work is not used)
b  pay the worker a bonus (asks amount and reason); the unit stays open
B  block the worker from every task (asks a reason); the unit stays open
?  this help
q  quit
A  approve this unit and every remaining unit of this worker
R  reject this unit and every remaining unit of this worker (one feedback for all)"""


class TerminalInput:
    """Keys and answers from stdin: single key presses on a terminal, else one line per answer."""

    def __init__(self, stream: TextIO, console: Console) -> None:
        self.stream = stream
        self.console = console
        self.interactive = stream.isatty()

    def key(self, prompt: str) -> str | None:
        """The key pressed (None at the end of input)."""
        self.console.print(prompt, end=" ", markup=False, highlight=False)
        if self.interactive:
            try:
                pressed = click.getchar()
            except (EOFError, KeyboardInterrupt):
                return None
            self.console.print(pressed, markup=False, highlight=False)
            return pressed
        line = self.stream.readline()
        if line == "":
            return None
        return line.strip()[:1]

    def text(self, prompt: str) -> str | None:
        """One line of text (None at the end of input)."""
        self.console.print(f"{prompt}:", end=" ", markup=False, highlight=False)
        line = self.stream.readline()
        if line == "":
            return None
        return line.rstrip("\r\n")


# Tally keys that need a singular and a plural.
_NOUNS = {"bonuses": ("bonus paid", "bonuses paid"), "workers blocked": ("worker blocked", "workers blocked")}


@dataclass
class Tally:
    """What a terminal review session did."""

    done: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    failed: int = 0

    def sentence(self) -> str:
        parts = [f"{n} {_NOUNS.get(word, (word, word))[n != 1]}" for word, n in self.done.items() if n]
        parts.append(f"{self.skipped} skipped")
        if self.failed:
            parts.append(f"{self.failed} failed")
        return "Review finished: " + ", ".join(parts) + "."


class _Quit(Exception):
    """The reviewer pressed q (or input ended)."""


class _ReadAsReached:
    """The units awaiting review, read a batch at a time as the reviewer reaches them; those reached are kept, for
    going back. Reading them all first took seconds and hundreds of MB at 100,000 units before the first was shown,
    and showed units that another reviewer decided meanwhile."""

    def __init__(self, records: Iterator[UnitRecord]) -> None:
        self._ahead = records
        self._reached: list[UnitRecord] = []

    def at(self, index: int) -> UnitRecord | None:
        """The `index`-th unit (from 0), or None past the last."""
        while len(self._reached) <= index:
            record = next(self._ahead, None)
            if record is None:
                return None
            self._reached.append(record)
        return self._reached[index]


class TerminalReview:
    """The loop over units awaiting review; every decision goes through ReviewActions."""

    def __init__(self, settings: Settings, database: Database, console: Console, keys: TerminalInput) -> None:
        self.settings = settings
        self.browser = DataBrowser(database, batch_size=READ_AHEAD)
        self.actions = ReviewActions(database, settings, reviewer=REVIEWER)
        self.console = console
        self.keys = keys
        self.tally = Tally()
        # A/R: a decision that applies to every later unit of a worker, with its feedback.
        self.standing: dict[int, tuple[str, str]] = {}
        self.decided: dict[int, str] = {}  # unit id -> what this session did to it (shown when going back)
        self.skipped: set[int] = set()
        self.task: str | None = None

    def run(self, task: str | None) -> Tally:
        """Go through every unit awaiting review (of `task`, or of every task), oldest first."""
        self.task = task
        total = self.browser.count(task=task, statuses=[UnitStatus.COMPLETED.value])
        if total == 0:
            where = f" in task {task!r}" if task else ""
            self.console.print(f"Nothing to review: no submitted unit awaits review{where}.", markup=False)
            return self.tally
        self.console.print(
            f"{total} unit{'s' if total != 1 else ''} await{'s' if total == 1 else ''} review. Press ? for help."
        )
        records = _ReadAsReached(self.browser.units(task=task, statuses=[UnitStatus.COMPLETED.value]))
        at, step = 0, 1
        try:
            while at >= 0 and (record := records.at(at)) is not None:
                standing = self.standing.get(record.worker_db_id or 0)
                # Moving on, a unit of a worker decided with A / R is passed (and decided, if read before that
                # decision); going back, it is shown with what was done.
                if standing is not None and (step > 0 or record.unit_id not in self.decided):
                    if record.unit_id not in self.decided:
                        self._decide([record], *standing)
                    at += 1
                    step = 1
                    continue
                step = self._review(record, at + 1, max(total, at + 1))
                if step < 0 and at == 0:
                    self.console.print("This is the first unit.", markup=False)
                    continue
                at += step
        except _Quit:
            self.console.print("Stopped.")
        return self.tally

    # ---- one unit -----------------------------------------------------------------------------------------

    def _review(self, record: UnitRecord, position: int, total: int) -> int:
        """Show `record` and take keys until the reviewer moves on: +1 (decided or skipped) or -1 (back)."""
        self._show(record, position, total)
        while True:
            key = self.keys.key(KEYS_LINE)
            if key is None or key == "q":
                raise _Quit
            if key == "?":
                self.console.print(HELP, markup=False, highlight=False)
                continue
            if key in ("k", "p"):
                return -1
            handler = self._handlers().get(key)
            if handler is None:
                self.console.print(
                    f"Unknown key {key!r}: press ? for the list." if key else "Press a key (? for help).",
                    markup=False,
                )
                continue
            try:
                finished = handler(record)
            except MephistoError as exc:
                self.tally.failed += 1
                self.console.print(f"[red]Not done:[/red] {escape(str(exc))}")
                continue
            if finished:
                return 1

    def _handlers(self) -> dict[str, Callable[[UnitRecord], bool]]:
        """Key -> action; an action returns True when the unit is decided (move on), False to stay on it."""
        return {
            "a": self._approve,
            "r": self._reject,
            "s": self._soft_reject,
            "b": self._bonus,
            "B": self._block,
            "j": self._skip,
            "n": self._skip,
            "A": lambda record: self._for_worker(record, "approve"),
            "R": lambda record: self._for_worker(record, "reject"),
        }

    def _approve(self, record: UnitRecord) -> bool:
        self.actions.approve(record.unit_id)
        return self._done(record, "approved")

    def _reject(self, record: UnitRecord) -> bool:
        feedback = self._ask("Feedback for the worker (why is it rejected?)")
        if not feedback.strip():
            self.console.print("Rejecting needs feedback; the unit is unchanged.")
            return False
        self.actions.reject(record.unit_id, feedback)
        return self._done(record, "rejected")

    def _soft_reject(self, record: UnitRecord) -> bool:
        feedback = self._ask("Feedback for the worker (optional)")
        self.actions.soft_reject(record.unit_id, feedback)
        return self._done(record, "soft-rejected")

    def _bonus(self, record: UnitRecord) -> bool:
        amount = self._ask("Bonus amount (e.g. 0.50)")
        reason = self._ask("Reason for the bonus (the worker sees it)")
        if not reason.strip():
            self.console.print("A bonus needs a reason; nothing was paid.")
            return False
        # A key per bonus asked here: the ledger pays it once, whatever happens between the platform and the commit.
        self.actions.bonus(record.unit_id, amount.strip(), reason, client_key=f"terminal-{uuid.uuid4().hex}")
        self.tally.done["bonuses"] += 1
        self.console.print(f"Bonus of {amount.strip()} paid to {record.worker_id}.", markup=False)
        return False

    def _block(self, record: UnitRecord) -> bool:
        if record.worker_db_id is None:
            raise MephistoError(f"unit {record.unit_id} has no worker to block")
        if self.actions.is_blocked(record.worker_db_id):
            self.console.print(f"Worker {record.worker_id} is already blocked.", markup=False)
            return False
        reason = self._ask("Reason for blocking the worker")
        if not reason.strip():
            # Not a failure: nothing was tried. The unit stays open for a verdict.
            self.console.print("Blocking needs a reason; the worker is not blocked.", markup=False)
            return False
        outcomes = self.actions.block_worker(record.worker_db_id, reason)
        self.tally.done["workers blocked"] += 1
        self.console.print(f"Worker {record.worker_id} is blocked from every task.", markup=False)
        for outcome in outcomes:  # whether each provider's platform blocked them too, never left unsaid
            self.console.print(f"  Platform: {outcome.sentence()}", markup=False)
        return False

    def _skip(self, record: UnitRecord) -> bool:
        if record.unit_id not in self.decided and record.unit_id not in self.skipped:
            self.skipped.add(record.unit_id)
            self.tally.skipped += 1
        return True

    def _for_worker(self, record: UnitRecord, verdict: str) -> bool:
        feedback = ""
        if verdict == "reject":
            feedback = self._ask(f"Feedback for every remaining unit of {record.worker_id}")
            if not feedback.strip():
                self.console.print("Rejecting needs feedback; nothing was changed.")
                return False
            self.actions.reject(record.unit_id, feedback)
            self._done(record, "rejected")
        else:
            self.actions.approve(record.unit_id)
            self._done(record, "approved")
        if record.worker_db_id is not None:
            self.standing[record.worker_db_id] = (verdict, feedback)
            self._decide_the_rest(record, verdict, feedback)
        return True

    def _decide_the_rest(self, record: UnitRecord, verdict: str, feedback: str) -> None:
        """Every later unit of `record`'s worker awaiting review, decided now (the platform asked for several at
        once): quitting leaves none of them open."""
        later = self.browser.units(task=self.task, statuses=[UnitStatus.COMPLETED.value], worker=record.worker_id)
        rest = [
            other
            for other in later
            if other.worker_db_id == record.worker_db_id
            and other.unit_id > record.unit_id
            and other.unit_id not in self.decided
        ]
        self._decide(rest, verdict, feedback)

    def _decide(self, records: list[UnitRecord], verdict: str, feedback: str) -> None:
        """Approve or reject `records`; a unit refused is counted and said, and the others go on."""
        kind, word = (ReviewKind.REJECT, "rejected") if verdict == "reject" else (ReviewKind.APPROVE, "approved")
        errors = self.actions.decide_all([record.unit_id for record in records], kind, feedback)
        for record, error in zip(records, errors, strict=True):
            if error is None:
                self._done(record, word)
            else:
                self.tally.failed += 1
                self.console.print(f"[red]Unit {record.unit_id} not done:[/red] {escape(str(error))}")

    def _done(self, record: UnitRecord, word: str) -> bool:
        self.tally.done[word] += 1
        self.decided[record.unit_id] = word
        if record.unit_id in self.skipped:  # skipped, then decided after going back
            self.skipped.discard(record.unit_id)
            self.tally.skipped -= 1
        self.console.print(f"Unit {record.unit_id} ({record.worker_id}) {word}.", markup=False)
        return True

    def _ask(self, prompt: str) -> str:
        answer = self.keys.text(prompt)
        if answer is None:
            raise _Quit
        return answer

    # ---- display ------------------------------------------------------------------------------------------

    def _show(self, record: UnitRecord, position: int, total: int) -> None:
        title = f"Unit {record.unit_id} · task {record.task} · run {record.task_run_id} · {position} of {total}"
        body = Table.grid(padding=(0, 2))
        body.add_column(style="bold")
        body.add_column()
        body.add_row("Worker", Text(self._worker_line(record)))
        spent = "-" if record.duration_s is None else _duration(record.duration_s)
        body.add_row("Time spent", spent)
        body.add_row(
            "Submitted", "-" if record.submitted_at is None else record.submitted_at.isoformat(timespec="seconds")
        )
        if record.unit_id in self.decided:
            body.add_row("This session", f"{self.decided[record.unit_id]} (press j for the next unit)")
        self.console.print(Panel(body, title=escape(title), title_align="left"))
        self.console.print(_values_table("Inputs", record.inputs))
        self.console.print(_values_table("Outputs", record.outputs))
        if record.files:
            files = Table(title="Files", title_justify="left")
            for column in ("field", "name", "size", "type", "stored at"):
                files.add_column(column, overflow="fold")
            for stored in record.files:
                where = str(self.settings.data_dir / stored["path"])
                files.add_row(
                    *(
                        Text(str(v))
                        for v in (stored["field"], stored["name"], f"{stored['size']} B", stored["type"], where)
                    )
                )
            self.console.print(files)

    def _worker_line(self, record: UnitRecord) -> str:
        if record.worker_db_id is None:
            return "-"
        summary = worker_summary(Worker.get_by_id(record.worker_db_id))
        rate = summary["approval_rate"]
        shown_rate = "no reviews yet" if rate is None else f"{rate:.0%}"
        return (
            f"{summary['worker']} ({summary['provider']}): {summary['submitted']} submitted, "
            f"{summary['approved']} accepted, {summary['rejected']} rejected, approval rate {shown_rate}, "
            f"blocked: {'YES' if summary['blocked'] else 'no'}"
        )


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _values_table(title: str, values: object) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, expand=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    if isinstance(values, dict):
        for key, value in values.items():
            table.add_row(Text(str(key)), Text(value if isinstance(value, str) else repr(value)))
        if not values:
            table.add_row("(empty)", "")
    else:
        table.add_row("(value)", Text("(nothing submitted)" if values is None else repr(values)))
    return table


def run_terminal_review(settings: Settings, database: Database, task: str | None) -> Tally:
    """The `--cli` loop on stdin/stdout; prints a summary at the end and returns it."""
    console = Console(highlight=False)
    if task is not None:
        from mephisto_core.data_model import Task

        if Task.get_or_none(Task.name == task) is None:
            raise click.ClickException(f"--task {task!r}: there is no task with that name")
    keys = TerminalInput(sys.stdin, console)
    tally = TerminalReview(settings, database, console, keys).run(task)
    console.print(tally.sentence())
    return tally
