"""Publishing that fails half-way during a run: a platform call that errors after publishing, one that errors
before, and a result whose commit fails. Real database (SQLite and PostgreSQL), real writer thread and provider
threads; the platform is a list in memory that keeps what each idempotency key published."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import pytest

from mephisto_core.abstractions import CrowdProvider, WorkerIdentity
from mephisto_core.data_model import Database, Unit, UnitStatus
from mephisto_core.data_model.publishing import IntentState, PublishIntent
from mephisto_core.errors import ProviderError
from mephisto_core.operations.provider_calls import ProviderCalls
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.launcher import TaskLauncher
from mephisto_core.operations.run.publishing import Publisher
from mephisto_core.operations.run.run_context import RunContext
from mephisto_core.operations.run.run_setup import select_run
from mephisto_core.plugins import get_registry
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")


class KeyedPlatform(CrowdProvider):
    """Publishes each key once; `fail` = "after" raises once after publishing, "before" once before."""

    type_name = "keyed_test"

    def __init__(self, settings: Settings, config: Any, fail: str | None) -> None:
        super().__init__(config.provider_args, "R", {}, settings.data_dir)
        self.fail = fail
        self.published: dict[str, int] = {}  # key -> unit id, what the platform holds
        self.requests: list[list[str]] = []

    def identify_worker(self, params: Mapping[str, str]) -> WorkerIdentity:
        return WorkerIdentity(params.get("worker_id"))

    def publish_units(
        self, units: Sequence[Unit], worker_url: str, idempotency_keys: Mapping[int, str]
    ) -> dict[int, str | None]:
        self.requests.append(sorted(idempotency_keys.values()))
        if self.fail == "before":
            self.fail = None
            raise ProviderError("503 before anything was published")
        for unit in units:
            self.published.setdefault(idempotency_keys[unit.id], unit.id)
        if self.fail == "after":
            self.fail = None
            raise ProviderError("connection reset after the platform published")
        return {unit.id: f"hit-{unit.id}" for unit in units}

    def find_published(self, idempotency_key: str) -> str | None:
        unit_id = self.published.get(idempotency_key)
        return None if unit_id is None else f"hit-{unit_id}"


def _setup(
    database: Database, settings: Settings, task_file: Any, fail: str | None
) -> tuple[TaskLauncher, KeyedPlatform]:
    config = load_task_config(task_file(rows=3))
    blueprint = get_registry().get("blueprint", "echo_test")(config.blueprint_args, config.task, config.task_dir)
    provider = KeyedPlatform(settings, config, fail)
    with database.write():
        selection = select_run(config, "R", "test:1", sandbox=True)
        ctx = RunContext(settings, config, selection.task, selection.run, blueprint, provider, "http://x/")
        launcher = TaskLauncher(ctx)
        launcher.create_assignments(list(blueprint.iter_assignments()))
        assert launcher.launch_available() == 3
    return launcher, provider


@contextlib.asynccontextmanager
async def _publisher(
    database: Database, launcher: TaskLauncher, on_moved: Callable[[], None] | None = None
) -> AsyncIterator[Publisher]:
    """A Publisher of the launcher's run with a real writer thread and provider-call threads, stopped after."""
    writer = DatabaseWriter(database)
    writer.start()
    calls = ProviderCalls(launcher.ctx.provider, first_backoff=0.01)
    try:
        yield Publisher(launcher.ctx, writer, calls, launcher.expire_unclaimed, on_moved or launcher.units_offered)
    finally:
        calls.close()
        writer.stop()


async def _two_rounds(database: Database, launcher: TaskLauncher, fail_first_record: bool = False) -> None:
    failing = [fail_first_record]

    def on_moved() -> None:
        if failing[0]:  # the result's writer job fails: its writes are rolled back, as a failed commit's
            failing[0] = False
            raise OSError("disk I/O error")
        launcher.units_offered()

    async with _publisher(database, launcher, on_moved) as publisher:
        with pytest.raises((ProviderError, OSError)):
            await publisher.publish_pending()
        await publisher.publish_pending()


@pytest.mark.parametrize("fail", ["after", "before"])
def test_a_failed_publish_call_is_looked_up_then_published_once_under_the_same_keys(
    database: Database, mephisto_settings: Settings, task_file: Any, fail: str
) -> None:
    launcher, platform = _setup(database, mephisto_settings, task_file, fail)
    keys = sorted(i.idempotency_key for i in PublishIntent.select())
    asyncio.run(_two_rounds(database, launcher))
    assert sorted(platform.published) == keys  # every unit at the platform once, under its first key
    # Published after the failure: asked again with the same keys; published before it: only looked up.
    assert platform.requests == ([keys, keys] if fail == "before" else [keys])
    assert {u.status for u in Unit.select()} == {UnitStatus.LAUNCHED.value}
    assert {u.provider_unit_id for u in Unit.select()} == {f"hit-{u.id}" for u in Unit.select()}
    assert {i.state for i in PublishIntent.select()} == {IntentState.PUBLISHED.value}


def test_a_result_whose_commit_failed_is_found_at_the_platform_not_published_again(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    launcher, platform = _setup(database, mephisto_settings, task_file, None)
    asyncio.run(_two_rounds(database, launcher, fail_first_record=True))
    assert len(platform.requests) == 1 and len(platform.published) == 3
    assert {u.status for u in Unit.select()} == {UnitStatus.LAUNCHED.value}
    assert {i.state for i in PublishIntent.select()} == {IntentState.PUBLISHED.value}


def test_a_platform_that_is_down_is_not_asked_again_at_every_tick(
    database: Database, mephisto_settings: Settings, task_file: Any
) -> None:
    launcher, platform = _setup(database, mephisto_settings, task_file, None)

    def down(units: Sequence[Unit], worker_url: str, keys: Mapping[int, str]) -> dict[int, str | None]:
        platform.requests.append(sorted(keys.values()))
        raise ProviderError("503 service unavailable")

    async def ticks() -> None:
        async with _publisher(database, launcher) as publisher:
            platform.publish_units = down  # type: ignore[method-assign]
            for _ in range(8):  # 0.8 s of ticks: one attempt, then a rest of FIRST_RETRY_DELAY_SECONDS
                await publisher.kick()
                await asyncio.sleep(0.1)
            assert len(platform.requests) == 1
            del platform.publish_units  # the platform is back
            await asyncio.sleep(0.3)
            await publisher.kick()  # past the rest: looked up (nothing there), then published

    asyncio.run(ticks())
    assert len(platform.requests) == 2 and len(platform.published) == 3
    assert {u.status for u in Unit.select()} == {UnitStatus.LAUNCHED.value}


def test_a_stop_withdraws_the_unclaimed_units_in_chunks_of_one_call_each(
    database: Database, mephisto_settings: Settings, task_file: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mephisto_core.operations.run import publishing

    monkeypatch.setattr(publishing, "WITHDRAW_CHUNK", 2)
    launcher, platform = _setup(database, mephisto_settings, task_file, None)
    withdrawn: list[list[int]] = []
    platform.expire_units = lambda units: withdrawn.append([u.id for u in units])  # type: ignore[method-assign]

    async def publish_then_stop() -> None:
        async with _publisher(database, launcher) as publisher:
            await publisher.publish_pending()
            await publisher.withdraw_unclaimed()

    asyncio.run(publish_then_stop())
    # Each call within the provider's call timeout, however many units a stop withdraws.
    assert [len(chunk) for chunk in withdrawn] == [2, 1]
    assert sorted(unit_id for chunk in withdrawn for unit_id in chunk) == sorted(u.id for u in Unit.select())
    assert {u.status for u in Unit.select()} == {UnitStatus.EXPIRED.value}


def test_a_provider_that_publishes_nothing_costs_the_writer_nothing_at_each_kick(
    database: Database, mephisto_settings: Settings, task_file: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    launcher, provider = _setup(database, mephisto_settings, task_file, None)
    monkeypatch.setattr(KeyedPlatform, "publishes_units", False)
    asked: list[object] = []

    async def run() -> None:
        async with _publisher(database, launcher) as publisher:
            real_call = publisher.writer.call

            async def counted(fn: Any, *args: Any) -> Any:
                asked.append(fn)
                return await real_call(fn, *args)

            monkeypatch.setattr(publisher.writer, "call", counted)
            for _ in range(3):
                await publisher.kick()
            await publisher.publish_pending()

    asyncio.run(run())
    assert asked == []
    assert provider.requests == []
