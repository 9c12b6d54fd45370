"""The operator stops the run by itself when its architect reports the router dead (`Architect.watch_router`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from mephisto_architect_local.architect import LocalArchitect
from websockets.asyncio.client import connect

from mephisto_core.data_model import TaskRun, Unit, UnitStatus
from mephisto_core.hookspecs import hookimpl
from mephisto_core.operations.operator import Operator, RouterLostError
from mephisto_core.plugins import register_plugin, unregister_plugin
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
def dying_router() -> Iterator[None]:
    plugin = _Plugin()
    register_plugin(plugin)
    yield
    unregister_plugin(plugin)


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
