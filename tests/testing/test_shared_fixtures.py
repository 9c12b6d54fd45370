"""The fixtures mephisto-core installs for plugin authors build real things: rows, plugins, the CLI.

`mephisto_rows_database` is overridden here with `database`, so the run builders are proved on SQLite and on
PostgreSQL, as a plugin author's conftest may do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from click.testing import Result

from mephisto_core import plugins
from mephisto_core.abstractions import NoPlatformProvider, WorkerIdentity
from mephisto_core.data_model import Agent, AgentStatus, Database, Unit, UnitStatus
from mephisto_core.errors import PluginError
from mephisto_core.hookspecs import hookimpl
from mephisto_core.settings import Settings
from mephisto_core.testing import HeldUnit, SubmittedRun, plugins_registered


@pytest.fixture
def mephisto_rows_database(database: Database) -> Database:
    return database


class FixtureProvider(NoPlatformProvider):
    """A provider type that exists only while a test registers it."""

    type_name: ClassVar[str] = "fixture_test_provider"

    def identify_worker(self, params: Mapping[str, str]) -> WorkerIdentity:
        return WorkerIdentity(params.get("worker_id"))


class FixturePlugin:
    @hookimpl
    def mephisto_register_providers(self, register: Any) -> None:
        register(FixtureProvider)


def test_make_submitted_run_builds_n_submitted_units_that_export_reads(
    make_submitted_run: Callable[..., SubmittedRun], mephisto_cli: Callable[..., Result], database: Database
) -> None:
    built = make_submitted_run(5, task_name="labels", outputs=lambda i: {"label": f"L{i}", "big": 2**70})
    assert len(built.units) == 5
    for unit, agent in zip(built.units, built.agents, strict=True):
        assert Unit.get_by_id(unit.id).status == UnitStatus.COMPLETED
        assert (agent.status, agent.unit_id) == (AgentStatus.COMPLETED, unit.id)

    result = mephisto_cli("export", "--task", "labels")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [row["outputs"]["label"] for row in rows] == [f"L{i}" for i in range(5)]
    assert [row["inputs"] for row in rows] == [{"index": i} for i in range(5)]
    assert [row["worker_id"] for row in rows] == ["alice", "bob", "carol", "alice", "bob"]
    assert {row["status"] for row in rows} == {"completed"} and {row["duration_s"] for row in rows} == {30}
    assert {row["task_run_id"] for row in rows} == {built.run.id}


def test_make_submitted_run_refuses_a_run_nobody_could_submit(make_submitted_run: Callable[..., SubmittedRun]) -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        make_submitted_run(2, workers=())


def test_make_held_unit_gives_the_worker_the_unit_through_a_working_agent(
    make_held_unit: Callable[..., HeldUnit],
) -> None:
    worker, unit, agent = make_held_unit(provider_type="lab", worker_name="zoe", pay_amount=Decimal("0.25"))
    stored = Unit.get_by_id(unit.id)
    assert (stored.worker_id, stored.agent_id, stored.pay_amount) == (worker.id, agent.id, Decimal("0.25"))
    assert Agent.get_by_id(agent.id).status == AgentStatus.IN_TASK
    assert (worker.name, worker.provider_type) == ("zoe", "lab")
    again = make_held_unit(provider_type="lab", worker_name="zoe")  # same worker, a run of its own
    assert again.worker.id == worker.id and again.unit.task_run_id != unit.task_run_id


def test_mephisto_register_plugin_makes_a_type_usable_for_the_test(
    mephisto_register_plugin: Callable[[object], None], mephisto_cli: Callable[..., Result]
) -> None:
    with pytest.raises(PluginError, match="unknown provider type 'fixture_test_provider'"):
        plugins.get_registry().get("provider", FixtureProvider.type_name)
    mephisto_register_plugin(FixturePlugin())
    assert plugins.get_registry().get("provider", FixtureProvider.type_name) is FixtureProvider
    result = mephisto_cli("plugins")
    assert result.exit_code == 0 and FixtureProvider.type_name in result.output


def test_plugins_registered_undoes_the_registration_even_after_an_error() -> None:
    with pytest.raises(RuntimeError, match="inside"), plugins_registered(FixturePlugin()):
        assert plugins.get_registry().get("provider", FixtureProvider.type_name) is FixtureProvider
        raise RuntimeError("inside")
    assert FixtureProvider.type_name not in plugins.get_registry().types("provider")


def test_mephisto_cli_env_points_subprocesses_at_the_test_data_dir(
    mephisto_cli_env: dict[str, str], mephisto_settings: Settings
) -> None:
    shown = subprocess.run(
        [sys.executable, "-c", "from mephisto_core.settings import Settings; print(Settings().data_dir)"],
        env=mephisto_cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert shown.stdout.strip() == str(mephisto_settings.data_dir)
    assert mephisto_cli_env["COLUMNS"] == "200"


def test_every_installed_fixture_has_a_docstring_and_is_listed_in_the_module_docstring() -> None:
    from mephisto_core.testing import pytest_plugin

    fixtures = {
        name: obj
        for name, obj in vars(pytest_plugin).items()
        if hasattr(obj, "_fixture_function_marker") or type(obj).__name__ == "FixtureFunctionDefinition"
    }
    assert {"mephisto_register_plugin", "mephisto_cli", "make_held_unit", "make_submitted_run"} <= set(fixtures)
    module_doc = pytest_plugin.__doc__ or ""
    for name, fixture in fixtures.items():
        assert (getattr(fixture, "__doc__", None) or "").strip(), f"fixture {name} has no docstring"
        assert f"`{name}`" in module_doc, f"fixture {name} is not listed in pytest_plugin's docstring"
