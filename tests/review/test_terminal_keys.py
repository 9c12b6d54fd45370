"""The terminal review's keys match the review app's: j / k move, a r s b act, B blocks, ? lists them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from review_helpers import is_blocked, reviews, task_units

from mephisto_core.cli import cli
from mephisto_core.data_model import Database, open_database
from mephisto_core.settings import Settings


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def reopen(mephisto_settings: Settings) -> Iterator[Callable[[], Database]]:
    """`reopen()` opens the test's database after the command closed it (closed again at the end)."""
    opened: list[Database] = []

    def open_again() -> Database:
        opened.append(open_database(None, mephisto_settings.sqlite_path))
        return opened[-1]

    yield open_again
    for database in opened:
        database.close()


def review_cli(input: str) -> Result:
    return CliRunner().invoke(cli, ["review", "--cli", "--task", "study"], input=input)


def test_j_skips_k_goes_back_and_a_decides_the_unit_gone_back_to(
    review_data: Path, reopen: Callable[[], Database]
) -> None:
    # j (skip 1), j (skip 2), k (back to 2), a (approve 2), k (back to 2), k (back to 1), a (approve 1), q
    result = review_cli("j\nj\nk\na\nk\nk\na\nq\n")
    assert result.exit_code == 0, result.output
    reopen()
    units = task_units("study")
    assert [u.status for u in units[:3]] == ["accepted", "accepted", "completed"]
    assert [r.unit_id for r in reviews()] == [units[1].id, units[0].id]
    assert "approved (press j for the next unit)" in result.output  # going back shows what was done
    assert "Review finished: 2 approved, 0 skipped." in result.output


def test_k_on_the_first_unit_stays_and_question_mark_lists_the_web_keys(review_data: Path) -> None:
    result = review_cli("k\n?\nq\n")
    assert result.exit_code == 0, result.output
    assert "This is the first unit." in result.output
    for line in ("j  next unit", "k  previous unit", "a  approve", "r  reject", "s  soft-reject", "b  pay", "B  block"):
        assert line in result.output


def test_block_without_a_reason_changes_nothing_and_is_not_a_failure(
    review_data: Path, reopen: Callable[[], Database]
) -> None:
    result = review_cli("B\n\nB\nSpam answers\na\nq\n")
    assert result.exit_code == 0, result.output
    reopen()
    first = task_units("study")[0]
    assert "Blocking needs a reason; the worker is not blocked." in result.output
    assert is_blocked(first.worker_id)
    assert [r.kind for r in reviews()] == ["block", "approve"]
    assert "failed" not in result.output.splitlines()[-1]
    assert "Review finished: 1 worker blocked, 1 approved, 0 skipped." in result.output
