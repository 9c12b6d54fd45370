"""A bonus paid while the run is still being served by a real `mephisto launch` process (its operator writing to
the same database), counted against the cap with the units still offered; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mephisto_core.data_model import Database, Unit
from mephisto_core.data_model.models import database_proxy
from mephisto_core.data_model.payments import Payment
from mephisto_core.operations.budget import BudgetExceeded
from mephisto_core.operations.review.actions import ReviewActions
from mephisto_core.operations.run.simulate import run_crowd
from mephisto_core.plugins import get_registry
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config
from mephisto_core.testing.processes import LaunchProcess

OVERRIDES = ["architect.port=0", "task.reward=1", "task.max_budget=4.50", "task.maximum_units_per_worker=1"]


def test_a_bonus_mid_run_is_paid_once_and_counts_the_units_still_offered(
    database: Database,
    mephisto_settings: Settings,
    mephisto_init: Callable[..., Path],
    mephisto_launch: Callable[..., LaunchProcess],
) -> None:
    task_file = mephisto_init("static")  # 4 units
    launch = mephisto_launch(task_file, *OVERRIDES)
    link = launch.wait_for_link()
    config = load_task_config(task_file, OVERRIDES)
    blueprint = get_registry().get("blueprint", "static")(config.blueprint_args, config.task, config.task_dir)
    base = "{0.scheme}://{0.netloc}/".format(urlsplit(link))
    report = asyncio.run(asyncio.wait_for(run_crowd(base, blueprint, 1, max_units=1), 60))
    assert report.submitted == 1
    database_proxy.initialize(database.db)
    (done,) = Unit.select().where(Unit.status == "completed")
    assert Unit.select().where(Unit.status == "launched").count() == 3  # the run goes on

    actions = ReviewActions(database, mephisto_settings)
    # 4.00 committed (one unit done, three offered): 0.51 more would pass 4.50.
    with pytest.raises(BudgetExceeded, match=r"refused the bonus of 0\.51"):
        actions.bonus(done.id, "0.51", "mid-run", client_key="a")
    assert actions.bonus(done.id, "0.50", "mid-run", client_key="b") is True
    assert actions.bonus(done.id, "0.50", "mid-run", client_key="b") is False
    assert [(p.kind, p.amount, p.status) for p in Payment.select()] == [("bonus", Decimal("0.50"), "paid")]
    assert launch.proc.poll() is None  # still serving
    launch.interrupt()
    assert launch.wait() == 0, launch.output()
