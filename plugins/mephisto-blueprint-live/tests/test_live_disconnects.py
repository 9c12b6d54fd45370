"""Partners who leave, come back, stay silent, or never arrive: who is told what and whose unit is completed."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from live_socket import SocketWorker


def _statuses(env: dict[str, str]) -> dict[str, tuple[str, str]]:
    """worker name -> (agent status, unit status) of their latest agent."""
    path = Path(env["MEPHISTO_DATA_DIR"]) / "mephisto.db"
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT w.name, a.status, u.status FROM agent a JOIN worker w ON a.worker_id = w.id "
            "JOIN unit u ON a.unit_id = u.id ORDER BY a.id"
        ).fetchall()
    return {name: (agent, unit) for name, agent, unit in rows}


def _launch(start: Callable[..., Any], task: Path, *overrides: str) -> tuple[Any, str]:
    launch = start(str(task), "architect.port=0", "--no-panel", *overrides)
    return launch, launch.wait_for_link()


def _pair(link: str) -> tuple[SocketWorker, SocketWorker]:
    alice, bob = SocketWorker(link, "alice"), SocketWorker(link, "bob")
    alice.live("start")
    bob.live("start")
    return alice, bob


def test_partner_leaving_ends_the_episode_and_the_other_keeps_a_completed_unit(
    chat_task, mephisto_launch, mephisto_cli_env
):
    launch, link = _launch(
        mephisto_launch, chat_task, "blueprint.on_partner_disconnect=end", "blueprint.num_assignments=1"
    )
    alice, bob = _pair(link)
    alice.say("hello")
    bob.live("message", data={"text": "hello"})
    alice.close()
    assert bob.live("episode_done")["outcome"] == "partner_left"
    bob.status("completed")
    # Alice's unit is withdrawn for good (a newcomer could never join that conversation): the run ends by itself.
    assert launch.wait(30) == 0, launch.output()
    statuses = _statuses(mephisto_cli_env)
    assert statuses["bob"] == ("completed", "completed")
    assert statuses["alice"] == ("disconnected", "expired")  # not paid, and not offered to a newcomer mid-story


def test_reconnecting_partner_gets_the_conversation_back_and_the_episode_goes_on(chat_task, mephisto_launch):
    launch, link = _launch(mephisto_launch, chat_task, "blueprint.on_partner_disconnect=wait:20")
    alice, bob = _pair(link)
    alice.say("first words")
    bob.live("message", data={"text": "first words"})
    alice.close()
    assert bob.live("partner_away", sender="Worker 1")["wait_seconds"] == 20
    back = SocketWorker(link, "alice", token=alice.token)
    history = back.live("history")
    said = [m["data"]["text"] for m in history["messages"]]
    assert said[-1] == "first words" and "Welcome" in said[0] and history["you"] == "Worker 1"
    bob.live("partner_back", sender="Worker 1")
    bob.say("second")
    back.live("message", data={"text": "second"})
    back.say("third")
    bob.say("fourth")
    assert back.live("episode_done")["outcome"] == "completed"
    assert bob.live("episode_done")["outcome"] == "completed"
    launch.stop_cleanly()


def test_partner_not_back_within_the_wait_ends_the_episode(chat_task, mephisto_launch, mephisto_cli_env):
    launch, link = _launch(mephisto_launch, chat_task, "blueprint.on_partner_disconnect=wait:1")
    alice, bob = _pair(link)
    alice.close()
    bob.live("partner_away", sender="Worker 1")
    assert bob.live("episode_done")["outcome"] == "partner_left"
    bob.status("completed")
    time.sleep(1.5)  # a few rounds of the operator's watch, which offers withdrawn units again
    assert _statuses(mephisto_cli_env)["alice"] == ("disconnected", "expired")
    launch.stop_cleanly()
    assert _statuses(mephisto_cli_env)["alice"] == ("disconnected", "expired")


def test_room_that_does_not_fill_releases_the_waiting_worker(chat_task, mephisto_launch, mephisto_cli_env):
    launch, link = _launch(mephisto_launch, chat_task, "blueprint.waiting_room_seconds=1")
    stranger = SocketWorker(link, "", hello=False)
    stranger.ws.send(json.dumps({"type": "live", "id": 7, "data": {"kind": "message", "text": "hi"}}))
    assert stranger.next_frame(lambda f: f.get("type") == "error")["code"] == "not_assigned"  # no unit, no chat
    alice = SocketWorker(link, "alice")
    assert alice.live("waiting") == {"kind": "waiting", "present": 1, "needed": 2, "seconds_left": 1}
    assert "Not enough workers" in alice.live("room_closed")["message"]
    alice.status("expired")
    assert _statuses(mephisto_cli_env)["alice"] == ("expired", "launched")  # offered again to someone else
    launch.stop_cleanly()


def test_room_that_does_not_fill_runs_with_fewer_and_withdraws_the_empty_seat(
    chat_task, mephisto_launch, mephisto_cli_env
):
    launch, link = _launch(
        mephisto_launch,
        chat_task,
        "blueprint.waiting_room_seconds=1",
        "blueprint.when_room_does_not_fill=run_with_fewer",
        "blueprint.num_assignments=1",
    )
    alice = SocketWorker(link, "alice")
    alice.live("waiting")
    assert alice.live("start", timeout=10) == {"kind": "start", "you": "Worker 1", "agents": ["Worker 1"]}
    alice.say("talking to myself")
    alice.say("still here")
    assert alice.live("episode_done")["outcome"] == "completed"
    alice.status("completed")
    # The seat nobody took was withdrawn for good: nothing is left to do, and the run ends by itself.
    assert launch.wait(30) == 0, launch.output()
    path = Path(mephisto_cli_env["MEPHISTO_DATA_DIR"]) / "mephisto.db"
    with sqlite3.connect(path) as db:
        units = db.execute("SELECT unit_index, status FROM unit ORDER BY unit_index").fetchall()
        withdrawn = db.execute("SELECT reason FROM withdrawn_unit").fetchall()
    assert units == [(0, "completed"), (1, "expired")]
    assert withdrawn == [("its live episode started without it",)]


SILENT_WORLD = """
async def run(assignment):
    first, second = assignment.agents
    first.observe({"text": "go"})
    await first.act(timeout=0.5)
"""


def test_silent_worker_times_out_and_the_partner_is_completed(chat_task, mephisto_launch, mephisto_cli_env):
    (chat_task.parent / "world.py").write_text(SILENT_WORLD)
    launch, link = _launch(mephisto_launch, chat_task)
    alice, bob = _pair(link)
    alice.live("turn", yours=True)
    assert bob.live("episode_done")["outcome"] == "partner_timed_out"
    alice.status("timed_out")
    launch.stop_cleanly()
    statuses = _statuses(mephisto_cli_env)
    assert statuses["alice"] == ("timed_out", "expired") and statuses["bob"] == ("completed", "completed")


def test_unit_offered_again_mid_episode_is_taken_back_from_the_newcomer(chat_task, mephisto_launch, mephisto_cli_env):
    launch, link = _launch(
        mephisto_launch, chat_task, "task.assignment_duration_seconds=1", "blueprint.num_assignments=1"
    )
    alice, _bob = _pair(link)
    alice.status("timed_out")  # the pool's own time limit, mid-episode: alice's unit is offered again
    carol = SocketWorker(link, "carol")
    assert carol.hello["type"] == "assigned"
    assert "no place in it any more" in carol.live("room_closed")["message"]
    carol.status("expired")
    statuses = _statuses(mephisto_cli_env)
    assert statuses["carol"] == ("expired", "expired")  # and withdrawn for good: not offered to a fourth worker
    launch.stop_cleanly()
