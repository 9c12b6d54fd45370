"""The operator stops the run by itself when its architect reports the router dead (`Architect.watch_router`)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from mephisto_architect_local.architect import LocalArchitect
from websockets.asyncio.client import connect

from mephisto_core.data_model import TaskRun, Unit, UnitStatus
from mephisto_core.hookspecs import hookimpl
from mephisto_core.operations.run.operator import Operator, RouterLostError
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")

REASON = "the router process (pid 4242) exited with code 3"


class DyingRouterArchitect(LocalArchitect):
    """The in-process local router, whose `watch_router` reports a death when the test says so."""

    type_name: ClassVar[str] = "dying_router_test"
    dies: ClassVar[asyncio.Event | None] = None

    async def watch_router(self) -> str | None:
        """Wait for the test's signal, then report the router dead."""
        DyingRouterArchitect.dies = asyncio.Event()
        await DyingRouterArchitect.dies.wait()
        return REASON


class _Plugin:
    @hookimpl
    def mephisto_register_architects(self, register: Any) -> None:
        register(DyingRouterArchitect)


@pytest.fixture
def dying_router(mephisto_register_plugin: Callable[[object], None]) -> None:
    mephisto_register_plugin(_Plugin())


@pytest.mark.usefixtures("dying_router")
def test_router_reported_dead_stops_the_run_keeping_held_units_for_the_next_launch(
    database: Any, mephisto_settings: Any, task_file: Any
) -> None:
    config = load_task_config(task_file(rows=2), ["architect.type=dying_router_test", "architect.port=0"])

    async def launch() -> str:
        operator = Operator(mephisto_settings, database)
        run = asyncio.create_task(operator.run(config))
        await asyncio.wait_for(operator.ready.wait(), 20)
        async with connect("ws" + operator.stats.worker_url[4:] + "ws") as alice:
            await alice.send(json.dumps({"type": "hello", "id": 1, "params": {"worker_id": "alice"}, "token": None}))
            assert json.loads(await asyncio.wait_for(alice.recv(), 10))["type"] == "assigned"
            assert DyingRouterArchitect.dies is not None
            DyingRouterArchitect.dies.set()
            with pytest.raises(RouterLostError) as caught:
                await asyncio.wait_for(run, 10)
        return str(caught.value)

    message = asyncio.run(launch())
    assert message.startswith(REASON)
    assert "2 of 2 units not done" in message and "launch the same task again to resume" in message
    # As after a stop now: the held unit stays assigned (offered again after the grace period by the next
    # launch), the unit nobody held is withdrawn, and the run is free for the next launch to take.
    assert sorted(u.status for u in Unit.select()) == [UnitStatus.ASSIGNED, UnitStatus.EXPIRED]
    run = TaskRun.get()
    assert not run.is_completed and run.owner is None


class RouterDeadAtStartArchitect(LocalArchitect):
    """Deploys a router that dies before the operator's channel reaches it (the channel URL leads nowhere)."""

    type_name: ClassVar[str] = "dead_at_start_test"

    async def deploy(self, build_dir: Any, channel_secret: str) -> Any:
        deployment = await super().deploy(build_dir, channel_secret)
        # A socket channel to a closed port: the operator would retry it until its 10 s start timeout.
        return dataclasses.replace(deployment, channel_url="ws://127.0.0.1:9/_channel", local_link=None)

    async def watch_router(self) -> str | None:
        await asyncio.sleep(0.3)
        return REASON


class _DeadAtStartPlugin:
    @hookimpl
    def mephisto_register_architects(self, register: Any) -> None:
        register(RouterDeadAtStartArchitect)


def test_a_router_that_dies_before_the_channel_connects_is_reported_at_once(
    database: Any, mephisto_settings: Any, task_file: Any, mephisto_register_plugin: Callable[[object], None]
) -> None:
    mephisto_register_plugin(_DeadAtStartPlugin())
    config = load_task_config(task_file(rows=2), ["architect.type=dead_at_start_test", "architect.port=0"])

    async def launch() -> tuple[str, float]:
        operator = Operator(mephisto_settings, database)
        started = time.monotonic()
        with pytest.raises(RouterLostError) as caught:
            await asyncio.wait_for(operator.run(config), 8)  # the channel's own timeout is 10 s
        return str(caught.value), time.monotonic() - started

    message, seconds = asyncio.run(launch())
    assert message.startswith(REASON)
    assert "died before the operator could connect" in message and "launch the same task again" in message
    assert seconds < 5
    # A launch that failed at start, before any worker came, leaves no run: the next one starts afresh.
    assert TaskRun.select().count() == 0
