"""`[task] max_budget` in real `mephisto launch` processes: a launch and a relaunch of withdrawn units that could
pass the cap are refused with a sentence saying what and why, and after a simulated run a bonus that would pass it
is refused while one that fits is paid. The mock provider, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from mephisto_core.data_model import Database, Task, TaskRun, Unit
from mephisto_core.data_model.models import database_proxy
from mephisto_core.data_model.payments import Payment
from mephisto_core.operations.budget import BudgetExceeded
from mephisto_core.operations.review.actions import ReviewActions
from mephisto_core.settings import Settings
from mephisto_core.testing.processes import LaunchProcess, run_mephisto

# The static template's data makes 4 units; at a reward of 1.00 (the mock charges no fee) they commit 4.00.
REWARD = "task.reward=1"


def test_a_launch_that_could_pass_the_budget_is_refused_and_leaves_no_run(
    database: Database, mephisto_init: Callable[..., Path], mephisto_cli_env: dict[str, str]
) -> None:
    task_file = mephisto_init("static")
    result = run_mephisto("launch", task_file, "architect.port=0", REWARD, "task.max_budget=3.99", env=mephisto_cli_env)
    assert result.returncode == 1
    assert (
        "refused offering 4 more units: it would commit 4.00 USD on top of the 0.00 USD the task has committed"
        in result.stderr
    )
    assert "passing task.max_budget = 3.99 USD" in result.stderr
    database_proxy.initialize(database.db)
    assert TaskRun.select().count() == 0 and Unit.select().count() == 0


@pytest.mark.parametrize("limit", [0, 2], ids=["every-unit-at-once", "two-at-a-time"])
def test_a_relaunch_of_withdrawn_units_that_could_pass_the_budget_is_refused(
    limit: int,
    database: Database,
    mephisto_init: Callable[..., Path],
    mephisto_launch: Callable[..., LaunchProcess],
    mephisto_cli_env: dict[str, str],
) -> None:
    task_file = mephisto_init("static")
    limited = f"task.max_num_concurrent_units={limit}"
    first = mephisto_launch(task_file, "architect.port=0", REWARD, limited, "task.max_budget=4")
    first.wait_for_link()
    first.interrupt()  # a stop withdraws the offered units (all 4, or the 2 the limit let out)
    assert first.wait() == 0, first.output()
    database_proxy.initialize(database.db)
    before = sorted(u.status for u in Unit.select())
    offered = limit or 4
    assert before.count("expired") == offered

    again = run_mephisto(
        "launch", task_file, "architect.port=0", REWARD, limited, "task.max_budget=1.50", env=mephisto_cli_env
    )
    assert again.returncode == 1
    assert f"refused offering {offered} more units" in again.stderr and "max_budget = 1.50 USD" in again.stderr
    database_proxy.initialize(database.db)
    assert sorted(u.status for u in Unit.select()) == before  # nothing offered again


def test_after_a_simulated_run_a_bonus_over_the_budget_is_refused_and_one_within_is_paid(
    database: Database,
    mephisto_settings: Settings,
    mephisto_init: Callable[..., Path],
    mephisto_cli_env: dict[str, str],
) -> None:
    task_file = mephisto_init("static")
    done = run_mephisto(
        "launch", task_file, "architect.port=0", REWARD, "task.max_budget=5", "task.currency=EUR", "--simulate", "2",
        env=mephisto_cli_env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    database_proxy.initialize(database.db)
    units = list(Unit.select().where(Unit.task == Task.get().id).order_by(Unit.id))
    assert [u.status for u in units] == ["completed"] * 4  # 4.00 EUR committed, payable on approval
    actions = ReviewActions(database, mephisto_settings)
    with pytest.raises(BudgetExceeded, match=r"refused the bonus of 1.01: .*passing task.max_budget = 5.00 EUR"):
        actions.bonus(units[0].id, "1.01", "too much", client_key="a")
    assert Payment.select().count() == 0
    assert actions.bonus(units[0].id, "1.00", "just right", client_key="b") is True
    (payment,) = Payment.select()
    assert (payment.amount, payment.currency, payment.status) == (Decimal("1.00"), "EUR", "paid")
    listing = run_mephisto("payments", env=mephisto_cli_env)
    assert "Total EUR: paid 1.00 (fees 0)" in listing.stdout
