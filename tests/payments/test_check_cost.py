"""`mephisto check` prices the whole task: every unit (gold included) with the platform fee, the declared bonus
budget and its fee, against `task.max_budget`, and shows the platform balance when the provider can tell it; a
balance that cannot be read is a warning, never a failed check."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def task_file(mephisto_init: Callable[..., Path]) -> Path:
    return mephisto_init("static")  # 4 units


PAYTEST = ("provider.type=paytest", "provider.requester_name=PAYTEST", "task.reward=1")


def _check(mephisto_cli: Callable[..., Any], task_file: Path, *overrides: str) -> Any:
    result = mephisto_cli("check", task_file, *overrides)
    assert result.exit_code == 0, result.output
    return result


def test_check_adds_the_bonus_budget_and_fees_to_the_worst_case_and_shows_the_balance(
    mephisto_cli: Callable[..., Any], task_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYTEST_BALANCE", "100")
    overrides = (*PAYTEST, "task.bonus_budget=2", "task.max_budget=10", "task.currency=GBP")
    report = json.loads(_check(mephisto_cli, task_file, *overrides, "--json").stdout)
    assert (report["estimated_cost"], report["bonus_budget"], report["bonus_fee"]) == ("4.80", "2.00", "0.40")
    assert (report["worst_case_cost"], report["currency"], report["max_budget"]) == ("7.20", "GBP", "10.00")
    assert (report["balance"], report["balance_warning"], report["fee_schedule"]) == (
        "100.00",
        None,
        "20% of every payment",
    )
    out = _check(mephisto_cli, task_file, *overrides).output
    assert "Provider fee:   0.80 (20% of every payment)" in out
    assert "Bonus budget:   2.00 + fee 0.40" in out
    assert "Worst case:     7.20 GBP" in out
    assert "Max budget:     10.00 GBP (the worst case fits)" in out
    assert "Balance:        100.00 GBP" in out


def test_check_warns_when_the_worst_case_passes_the_cap_or_the_balance(
    mephisto_cli: Callable[..., Any], task_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYTEST_BALANCE", "5")
    out = _check(mephisto_cli, task_file, *PAYTEST, "task.bonus_budget=2", "task.max_budget=6").output
    assert "Max budget:     6.00 USD, below the worst case" in out
    assert "Balance:        5.00 USD (less than the worst case)" in out


def test_a_balance_that_cannot_be_read_is_a_warning(
    mephisto_cli: Callable[..., Any], task_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYTEST_BALANCE", "broken")
    result = _check(mephisto_cli, task_file, *PAYTEST)
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "Warning: could not read the platform balance of 'PAYTEST': ConnectionError: the platform did not" in said
    assert json.loads(_check(mephisto_cli, task_file, *PAYTEST, "--json").stdout)["balance"] is None


def test_a_provider_without_balance_shows_none_and_no_fee(mephisto_cli: Callable[..., Any], task_file: Path) -> None:
    report = json.loads(_check(mephisto_cli, task_file, "task.reward=0.25", "--json").stdout)
    assert (report["worst_case_cost"], report["balance"], report["balance_warning"]) == ("1.00", None, None)
    assert report["fee_schedule"] == "no platform fee (you pay workers yourself)"
    out = _check(mephisto_cli, task_file, "task.reward=0.25").output
    assert "Balance" not in out and "Warning" not in out


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("task.max_budget=-1", "greater than or equal to 0"),
        ("task.bonus_budget=inf", "finite number"),
        ("task.currency=dollars", "should match pattern"),
    ],
)
def test_bad_money_keys_are_located_errors(
    mephisto_cli: Callable[..., Any], task_file: Path, override: str, expected: str
) -> None:
    result = mephisto_cli("check", task_file, override)
    assert result.exit_code == 1
    assert override.split("=")[0] in result.output and expected in result.output
