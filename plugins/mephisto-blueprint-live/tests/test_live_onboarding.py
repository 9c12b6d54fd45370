"""Live onboarding: a worker talks alone with the module's `onboarding(agent)` before a first unit (real sockets)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from live_socket import SocketWorker
from mephisto_blueprint_live.args import LiveBlueprintArgs
from mephisto_blueprint_live.blueprint import LiveBlueprint

from mephisto_core.abstractions import TaskArgs
from mephisto_core.errors import ConfigError

ONBOARDING = """

async def onboarding(agent):
    agent.observe({"text": "Before you start: what is 2 + 2?"})
    answer = await agent.act(timeout=10)
    if answer.get("text") == "4":
        agent.pass_onboarding()
    else:
        agent.fail_onboarding("2 + 2 is 4.")
"""
REFUSED = "You did not pass the qualification test of this task, so it is not open to you."


def _launch(start: Callable[..., Any], task: Path) -> tuple[Any, str]:
    world = task.parent / "world.py"
    world.write_text(world.read_text() + ONBOARDING)
    launch = start(str(task), "architect.port=0", "task.name=chat", "--no-panel")
    return launch, launch.wait_for_link()


def _onboard(worker: SocketWorker, answer: str) -> dict[str, Any]:
    """Answer the onboarding question; the verdict frame."""
    assert worker.hello["type"] == "assigned" and worker.hello["is_onboarding"] is True
    assert worker.hello["init_data"]["onboarding"] is True
    question = worker.live("message", sender=None)
    assert question["data"]["text"].startswith("Before you start")
    echo = worker.say(answer)
    assert echo["sender"] == "Worker 1" and echo["seq"] == question["seq"] + 1
    return worker.live("onboarding_done")


def _onboardings(env: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    with sqlite3.connect(Path(env["MEPHISTO_DATA_DIR"]) / "mephisto.db") as db:
        rows = db.execute(
            "SELECT w.name, o.status, o.outputs FROM onboarding_agent o "
            "JOIN worker w ON o.worker_id = w.id ORDER BY o.id"
        ).fetchall()
    return [(name, status, json.loads(outputs)) for name, status, outputs in rows]


def test_passing_onboarding_leads_into_a_real_episode(chat_task, mephisto_launch, mephisto_cli_env):
    launch, link = _launch(mephisto_launch, chat_task)
    for name in ("alice", "bob"):
        done = _onboard(SocketWorker(link, name), "4")
        assert done["passed"] is True
    # The page reloads without its onboarding token (mephisto.nextUnit): now a unit, and the waiting room.
    alice = SocketWorker(link, "alice")
    assert alice.hello["type"] == "assigned" and alice.hello["is_onboarding"] is False
    alice.live("waiting", present=1, needed=2)
    bob = SocketWorker(link, "bob")
    assert alice.live("start")["you"] == "Worker 1" and bob.live("start")["you"] == "Worker 2"
    rows = _onboardings(mephisto_cli_env)
    assert [(name, status) for name, status, _ in rows] == [("alice", "approved"), ("bob", "approved")]
    said = [(line["sender"], line["data"]["text"]) for line in rows[0][2]["transcript"]]
    assert said == [(None, "Before you start: what is 2 + 2?"), ("Worker 1", "4")]
    launch.stop_now()  # mid-episode: a plain Ctrl-C would wait for the workers
    launch.wait(30)


def test_failing_onboarding_refuses_the_worker(chat_task, mephisto_launch, mephisto_cli_env):
    launch, link = _launch(mephisto_launch, chat_task)
    carol = SocketWorker(link, "carol")
    done = _onboard(carol, "5")
    assert done == {"kind": "onboarding_done", "passed": False, "message": "2 + 2 is 4."}
    for token in (carol.token, None):  # the reloaded page with or without its token
        again = SocketWorker(link, "carol", token=token)
        assert again.hello["type"] == "refused" and again.hello["message"] == REFUSED
    [(name, status, outputs)] = _onboardings(mephisto_cli_env)
    assert (name, status, outputs["passed"], outputs["reason"]) == ("carol", "rejected", False, "2 + 2 is 4.")
    launch.stop_cleanly()


def test_reconnecting_during_onboarding_resumes_the_conversation(chat_task, mephisto_launch):
    launch, link = _launch(mephisto_launch, chat_task)
    first = SocketWorker(link, "dave")
    question = first.live("message", sender=None)
    first.live("turn", yours=True)
    first.close()
    back = SocketWorker(link, "dave", token=first.token)
    assert back.hello["is_onboarding"] is True and back.hello["agent_id"] == first.hello["agent_id"]
    history = back.live("history")
    assert [m["seq"] for m in history["messages"]] == [question["seq"]]
    assert back.say("4")["sender"] == "Worker 1"
    assert back.live("onboarding_done")["passed"] is True
    launch.stop_cleanly()


def test_simulated_workers_pass_a_lenient_onboarding_then_chat(chat_task, mephisto_launch, mephisto_cli_env):
    world = chat_task.parent / "world.py"
    lenient = "\n\nasync def onboarding(agent):\n    await agent.act(timeout=10)\n    agent.pass_onboarding()\n"
    world.write_text(world.read_text() + lenient)
    launch = mephisto_launch(str(chat_task), "architect.port=0", "blueprint.num_assignments=1", "--simulate", "2")
    assert launch.wait(60) == 0, launch.output()
    assert "All 2 units are done." in launch.output()
    assert [status for _, status, _ in _onboardings(mephisto_cli_env)] == ["approved", "approved"]


def test_check_refuses_an_onboarding_that_is_not_async(tmp_path):
    (tmp_path / "world.py").write_text("async def run(assignment):\n    pass\n\ndef onboarding(agent):\n    pass\n")
    task = TaskArgs(name="live-test", title="Talk", description="Chat.", units_per_assignment=2)
    blueprint = LiveBlueprint(LiveBlueprintArgs(world="world.py"), task, tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"async def onboarding\(agent\)"):
        blueprint.check()
