"""A run's life at its edges: resuming under `max_num_concurrent_units`, and a launch that fails at start.

Real operator, launcher, database (SQLite and PostgreSQL) and, where a router is needed, the local architect's
real router; the test plugin adds a provider that publishes units (recording what it publishes, withdraws and
cleans up) and providers/architects that fail at a chosen step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
import tomli_w
from mephisto_architect_local.architect import LocalArchitect

from mephisto_core.abstractions import CrowdProvider, WorkerIdentity
from mephisto_core.abstractions.architect import Deployment
from mephisto_core.data_model import Database, Task, TaskRun, Unit, UnitStatus
from mephisto_core.errors import ProviderError
from mephisto_core.hookspecs import hookimpl
from mephisto_core.operations.run.operator import Operator, RunStats
from mephisto_core.settings import Settings
from mephisto_core.task_config import TaskConfig, load_task_config

pytestmark = pytest.mark.usefixtures("test_types")


class PublishingProvider(CrowdProvider):
    """Workers named by `worker_id`; every unit is published, and every call is recorded by unit id."""

    type_name = "publishing_test"
    default_requester_name = "PUBLISHING_REQUESTER"
    published: ClassVar[list[int]] = []
    withdrawn: ClassVar[list[int]] = []
    cleanups: ClassVar[int] = 0

    def identify_worker(self, params: Any) -> WorkerIdentity:
        return WorkerIdentity(params.get("worker_id"))

    def launch_units(self, units: Sequence[Unit], worker_url: str) -> dict[int, str | None]:
        type(self).published.extend(u.id for u in units)
        return {u.id: f"hit-{u.id}" for u in units}

    def expire_units(self, units: Sequence[Unit]) -> None:
        type(self).withdrawn.extend(u.id for u in units)

    def cleanup_resources(self, run: TaskRun) -> None:
        PublishingProvider.cleanups += 1  # on the base: subclasses count here too


class SetupFailsProvider(PublishingProvider):
    type_name = "setup_fails_test"
    default_requester_name = "SETUP_FAILS_REQUESTER"  # a requester belongs to one provider type

    def setup_resources(self, run: TaskRun, worker_url: str) -> None:
        raise ProviderError("the platform refused to create the study")


class DeployFailsArchitect(LocalArchitect):
    type_name = "deploy_fails_test"

    async def deploy(self, build_dir: Path, channel_secret: str) -> Deployment:
        raise OSError("address already in use")


class RecordingArchitect(LocalArchitect):
    """The local architect, counting shutdowns."""

    type_name = "recording_local_test"
    shutdowns: ClassVar[int] = 0

    async def shutdown(self) -> None:
        type(self).shutdowns += 1
        await super().shutdown()


class _Plugin:
    @hookimpl
    def mephisto_register_providers(self, register: Any) -> None:
        register(PublishingProvider)
        register(SetupFailsProvider)

    @hookimpl
    def mephisto_register_architects(self, register: Any) -> None:
        register(DeployFailsArchitect)
        register(RecordingArchitect)


@pytest.fixture(autouse=True)
def lifecycle_types(mephisto_register_plugin: Callable[[object], None]) -> None:
    mephisto_register_plugin(_Plugin())
    PublishingProvider.published, PublishingProvider.withdrawn = [], []
    PublishingProvider.cleanups = RecordingArchitect.shutdowns = 0


def _task(folder: Path, provider: str, architect: str = "recording_local_test", rows: int = 6, **task: Any) -> Path:
    config = {
        "task": {"name": "lifecycle", "title": "Lifecycle", **task},
        "blueprint": {"type": "echo_test", "rows": rows},
        "architect": {"type": architect, "port": 0},
        "provider": {"type": provider},
    }
    path = folder / "task.toml"
    path.write_text(tomli_w.dumps(config))
    return path


def _statuses() -> dict[str, int]:
    counts: dict[str, int] = {}
    for unit in Unit.select():
        counts[unit.status] = counts.get(unit.status, 0) + 1
    return counts


def _launch_then_stop(settings: Settings, database: Database, config: TaskConfig) -> tuple[RunStats, dict[str, int]]:
    """Launch, note the unit statuses once workers may come, then stop once (Ctrl-C) and wait for the end."""

    async def scenario() -> tuple[RunStats, dict[str, int]]:
        operator = Operator(settings, database)
        run = asyncio.create_task(operator.run(config))
        await asyncio.wait_for(operator.ready.wait(), 20)
        at_ready = _statuses()
        operator.request_stop()
        return await asyncio.wait_for(run, 20), at_ready

    return asyncio.run(scenario())


@pytest.mark.parametrize("provider", ["crowd_test", "publishing_test"])
def test_a_resumed_run_offers_at_most_max_num_concurrent_units(
    database: Database, mephisto_settings: Settings, tmp_path: Path, provider: str
) -> None:
    config = load_task_config(_task(tmp_path, provider, rows=6, max_num_concurrent_units=2))
    first, at_ready = _launch_then_stop(mephisto_settings, database, config)
    assert not first.resumed and at_ready == {"launched": 2, "created": 4}
    # The stop withdrew the two offered units; the four never offered were not withdrawn, just left waiting.
    assert _statuses() == {"expired": 2, "created": 4}
    offered_first = sorted(u.id for u in Unit.select().where(Unit.status == UnitStatus.EXPIRED.value))
    if provider == "publishing_test":
        assert sorted(PublishingProvider.withdrawn) == offered_first == sorted(PublishingProvider.published)

    second, at_ready = _launch_then_stop(mephisto_settings, database, config)
    assert second.resumed
    assert at_ready == {"launched": 2, "created": 4}, "a resumed run offered more than max_num_concurrent_units"
    if provider == "publishing_test":
        # Published again: only the two withdrawn units, never more than the limit at once.
        assert sorted(PublishingProvider.published) == sorted(offered_first * 2)


def _fails(settings: Settings, database: Database, config: TaskConfig, error: type[BaseException]) -> str:
    async def scenario() -> str:
        with pytest.raises(error) as caught:
            await asyncio.wait_for(Operator(settings, database).run(config), 20)
        return str(caught.value)

    return asyncio.run(scenario())


def _next_launch_starts_afresh(settings: Settings, database: Database, tmp_path: Path) -> None:
    assert TaskRun.select().count() == 0 and Task.select().count() == 0 and Unit.select().count() == 0
    assert not (settings.runs_dir / "1").exists()
    config = load_task_config(_task(tmp_path, "crowd_test", rows=2))
    stats, _ = _launch_then_stop(settings, database, config)
    assert not stats.resumed


def test_a_failing_deploy_leaves_no_run(database: Database, mephisto_settings: Settings, tmp_path: Path) -> None:
    config = load_task_config(_task(tmp_path, "publishing_test", architect="deploy_fails_test"))
    assert "address already in use" in _fails(mephisto_settings, database, config, OSError)
    assert PublishingProvider.cleanups == 0  # the router never came up: nothing was set up
    _next_launch_starts_afresh(mephisto_settings, database, tmp_path)


def test_a_failing_provider_setup_is_cleaned_up_and_leaves_no_run(
    database: Database, mephisto_settings: Settings, tmp_path: Path
) -> None:
    config = load_task_config(_task(tmp_path, "setup_fails_test"))
    assert "refused to create the study" in _fails(mephisto_settings, database, config, ProviderError)
    assert PublishingProvider.cleanups == 1  # cleanup_resources runs after a failed setup_resources too
    assert RecordingArchitect.shutdowns == 1
    _next_launch_starts_afresh(mephisto_settings, database, tmp_path)


def test_a_crash_right_after_the_link_is_printed_withdraws_and_leaves_no_run(
    database: Database, mephisto_settings: Settings, tmp_path: Path
) -> None:
    config = load_task_config(_task(tmp_path, "publishing_test", rows=3))
    # A duration no clock can add (what task_args' bound now refuses): the first tick after "Launched" overflows.
    config.task = config.task.model_copy(update={"assignment_duration_seconds": 99_999_999_999_999_999})

    async def scenario() -> None:
        operator = Operator(mephisto_settings, database)
        with pytest.raises(OverflowError):
            await asyncio.wait_for(operator.run(config, on_ready=lambda stats: None), 20)
        assert operator.ready.is_set()  # it did get as far as printing the link

    asyncio.run(scenario())
    assert len(PublishingProvider.published) == 3
    assert sorted(PublishingProvider.withdrawn) == sorted(PublishingProvider.published)  # none left on the platform
    assert PublishingProvider.cleanups == 1 and RecordingArchitect.shutdowns == 1
    _next_launch_starts_afresh(mephisto_settings, database, tmp_path)
