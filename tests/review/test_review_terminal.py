"""`mephisto review --cli` driven with input lines (stdin is not a terminal under CliRunner)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from review_helpers import break_the_mock_provider, is_blocked, ledger, reviews, task_units
from rich.console import Console

from mephisto_core.cli import _review_terminal, cli
from mephisto_core.cli._review_terminal import TerminalReview
from mephisto_core.data_model import Agent, Database, Unit, Worker, open_database
from mephisto_core.data_model.payments import Payment
from mephisto_core.settings import Settings


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


def review_cli(*args: str, input: str) -> Result:
    return CliRunner().invoke(cli, ["review", "--cli", *args], input=input)


@pytest.fixture
def reopen(mephisto_settings: Settings) -> Iterator[object]:
    """`reopen()` opens the test's database after the command closed it (closed again at the end)."""
    opened: list[Database] = []

    def open_again() -> Database:
        database = open_database(None, mephisto_settings.sqlite_path)
        opened.append(database)
        return database

    yield open_again
    for database in opened:
        database.close()


def test_keys_approve_reject_soft_reject_and_skip_units_in_order(review_data: Path, reopen) -> None:
    result = review_cli("--task", "study", input="a\nr\nThe answer ignores the prompt.\ns\n\nn\nq\n")
    assert result.exit_code == 0, result.output
    reopen()
    units = task_units("study")
    assert [u.status for u in units] == ["accepted", "rejected", "soft_rejected"] + ["completed"] * 5
    assert [(r.unit_id, r.kind, r.feedback, r.reviewer) for r in reviews()] == [
        (units[0].id, "approve", "", "review-cli"),
        (units[1].id, "reject", "The answer ignores the prompt.", "review-cli"),
        (units[2].id, "soft_reject", "", "review-cli"),
    ]
    output = result.output
    assert "8 units await review" in output
    first_worker = Worker.get_by_id(units[0].worker_id).name
    assert f"Unit {units[0].id} ({first_worker}) approved." in output
    assert units[0].assignment.inputs["prompt"] in output  # the inputs are shown
    assert "approval rate" in output and "photo" in output  # worker history and files
    assert "Stopped." in output
    assert "Review finished: 1 approved, 1 rejected, 1 soft-rejected, 1 skipped." in output


def test_bonus_and_block_keep_the_unit_open_for_a_verdict(
    review_data: Path, reopen, mephisto_settings: Settings
) -> None:
    result = review_cli("--task", "study", input="b\n0.75\nGreat detail\nB\nCopy-pasted answers\na\nq\n")
    assert result.exit_code == 0, result.output
    reopen()
    first = task_units("study")[0]
    assert [(r.kind, r.amount, r.feedback) for r in reviews()] == [
        ("bonus", Decimal("0.75"), "Great detail"),
        ("block", None, "Copy-pasted answers"),
        ("approve", None, ""),
    ]
    assert is_blocked(first.worker_id)
    assert first.status == "accepted"
    assert [e["action"] for e in ledger(mephisto_settings)] == ["block", "approve"]  # money: the payments ledger
    (payment,) = Payment.select().where(Payment.kind == "bonus")
    assert (payment.amount, payment.status, payment.unit_id) == (Decimal("0.75"), "paid", first.id)
    assert payment.idempotency_key.startswith(f"bonus:unit-{first.id}:terminal-")  # one key per bonus asked
    assert "blocked from every task" in result.output
    assert "Platform: block: done at mock (requester MOCK_REQUESTER)." in result.output


def test_uppercase_a_approves_every_remaining_unit_of_that_worker(review_data: Path, reopen) -> None:
    result = review_cli("--task", "study", input="A\n" + "n\n" * 10)
    assert result.exit_code == 0, result.output
    reopen()
    units = task_units("study")
    worker = units[0].worker_id
    assert {u.status for u in units if u.worker_id == worker} == {"accepted"}
    assert {u.status for u in units if u.worker_id != worker} == {"completed"}
    assert len(reviews()) == sum(1 for u in units if u.worker_id == worker)


def test_uppercase_r_rejects_every_remaining_unit_of_that_worker_with_one_feedback(review_data: Path, reopen) -> None:
    result = review_cli("--task", "study", input="R\nAll answers are copied.\n" + "n\n" * 10)
    assert result.exit_code == 0, result.output
    reopen()
    units = task_units("study")
    worker = units[0].worker_id
    mine = [u for u in units if u.worker_id == worker]
    assert {u.status for u in mine} == {"rejected"}
    assert {(r.kind, r.feedback) for r in reviews()} == {("reject", "All answers are copied.")}
    assert len(reviews()) == len(mine)


def test_reject_without_feedback_changes_nothing(review_data: Path, reopen) -> None:
    result = review_cli("--task", "study", input="r\n\nq\n")
    assert result.exit_code == 0, result.output
    assert "Rejecting needs feedback; the unit is unchanged." in result.output
    reopen()
    assert task_units("study")[0].status == "completed"
    assert reviews() == []


def test_a_provider_failure_is_reported_and_the_unit_stays(
    review_data: Path, reopen, mephisto_settings: Settings
) -> None:
    break_the_mock_provider(mephisto_settings)
    result = review_cli("--task", "study", input="a\nq\n")
    assert result.exit_code == 0, result.output
    assert "Not done:" in result.output and "could not record" in result.output
    assert "1 failed" in result.output
    reopen()
    assert task_units("study")[0].status == "completed"
    assert reviews() == []


def test_unknown_keys_and_help(review_data: Path) -> None:
    result = review_cli("--task", "study", input="z\n?\nq\n")
    assert result.exit_code == 0, result.output
    assert "Unknown key 'z': press ? for the list." in result.output
    assert "every remaining unit of this worker" in result.output


def test_the_end_of_input_stops_the_review(review_data: Path, reopen) -> None:
    result = review_cli(input="")
    assert result.exit_code == 0, result.output
    assert "11 units await review" in result.output  # both tasks without --task
    assert "Stopped." in result.output
    reopen()
    assert reviews() == []


def test_nothing_to_review_says_so(review_data: Path, reopen) -> None:
    reopen()
    Unit.update(status="accepted").execute()
    result = review_cli("--task", "notes", input="")
    assert result.exit_code == 0, result.output
    assert "Nothing to review: no submitted unit awaits review in task 'notes'." in result.output


def test_an_unknown_task_is_a_clean_error(review_data: Path) -> None:
    result = review_cli("--task", "nope", input="")
    assert result.exit_code == 1
    assert "--task 'nope': there is no task with that name" in result.output
    assert "Traceback" not in result.output


class ScriptedKeys:
    """Keys from a list; `before_key(n)` runs before the n-th key is given (from 0), as another reviewer would."""

    def __init__(self, keys: list[str], before_key: Callable[[int], None]) -> None:
        self.keys = keys
        self.given = 0
        self.before_key = before_key

    def key(self, prompt: str) -> str | None:
        self.before_key(self.given)
        self.given += 1
        return self.keys[self.given - 1] if self.given <= len(self.keys) else None

    def text(self, prompt: str) -> str | None:
        return None


def test_units_are_read_as_reached_so_one_decided_elsewhere_meanwhile_is_not_shown(
    review_db: Database, mephisto_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_review_terminal, "READ_AHEAD", 2)
    units = task_units("study")
    decided_elsewhere = units[5]

    def another_reviewer(given: int) -> None:
        if given == 1:
            Unit.update(status="accepted").where(Unit.id == decided_elsewhere.id).execute()

    shown = io.StringIO()
    console = Console(file=shown, width=200)
    keys = ScriptedKeys(["j"] * 6 + ["k"] * 6, another_reviewer)
    tally = TerminalReview(mephisto_settings, review_db, console, keys).run("study")  # type: ignore[arg-type]
    seen = [int(n) for n in re.findall(r"Unit (\d+) · task study", shown.getvalue())]
    forward = [u.id for u in units if u.id != decided_elsewhere.id]
    assert seen == forward[:7] + forward[5::-1][:6]  # forward to the end, then back over what was shown
    assert "8 units await review" in shown.getvalue()
    assert tally.skipped == 6  # the seventh was left by going back


def _first_worker_holds_the_first_and_third_units() -> tuple[int, list[Unit]]:
    """Which simulated worker took which unit varies from run to run: the first unit's worker is made to hold the
    first and third units only (one of each of the first two assignments); returns them and the task's units."""
    units = task_units("study")
    worker = units[0].worker_id
    other = next(u.worker_id for u in units if u.worker_id != worker)
    for index, unit in enumerate(units):
        owner = worker if index in (0, 2) else (other if unit.worker_id == worker else unit.worker_id)
        Unit.update(worker=owner).where(Unit.id == unit.id).execute()
        Agent.update(worker=owner).where(Agent.id == unit.agent_id).execute()
    return worker, task_units("study")


def test_uppercase_a_decides_the_workers_remaining_units_at_once_so_quitting_leaves_none(
    review_data: Path, reopen
) -> None:
    reopen()
    worker, _ = _first_worker_holds_the_first_and_third_units()
    result = review_cli("--task", "study", input="A\nq\n")
    assert result.exit_code == 0, result.output
    reopen()
    units = task_units("study")
    mine = [u for u in units if u.worker_id == worker]
    assert len(mine) > 1 and {u.status for u in mine} == {"accepted"}
    assert {u.status for u in units if u.worker_id != worker} == {"completed"}
    assert f"Review finished: {len(mine)} approved, 0 skipped." in result.output


def test_going_back_shows_a_unit_decided_with_uppercase_a_and_moving_on_passes_it(review_data: Path, reopen) -> None:
    reopen()
    worker, units = _first_worker_holds_the_first_and_third_units()  # so another worker's unit follows their second
    second_of_worker = next(u for u in units[1:] if u.worker_id == worker)
    after = units.index(second_of_worker) + 1
    assert after < len(units) and units[after].worker_id != worker  # the order made above
    # A on the first unit (then the next is shown), j up to the unit after the worker's second, back once (that
    # second unit is shown: approved), on once.
    others_between = sum(1 for u in units[1 : after - 1] if u.worker_id != worker)
    keys = "A\n" + "j\n" * others_between + "k\nj\nq\n"
    result = review_cli("--task", "study", input=keys)
    assert result.exit_code == 0, result.output
    shown = [int(n) for n in re.findall(r"Unit (\d+) · task study", result.output)]
    assert shown.count(second_of_worker.id) == 1  # passed on the way, shown only when going back
    assert shown[-3:] == [units[after].id, second_of_worker.id, units[after].id]
    assert "approved (press j for the next unit)" in result.output
