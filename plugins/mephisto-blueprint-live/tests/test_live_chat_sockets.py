"""A live chat task run by a real `mephisto launch`, with pages talking over the real worker socket."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from live_socket import SocketWorker

from mephisto_core.testing.processes import run_mephisto


def _export(env: dict[str, str], task: Path) -> list[dict[str, Any]]:
    made = run_mephisto("export", "--task", "chat", "--format", "jsonl", env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    return [json.loads(line) for line in made.stdout.splitlines() if line.startswith("{")]


def _launch(start: Callable[..., Any], task: Path, *overrides: str) -> tuple[Any, str]:
    launch = start(str(task), "architect.port=0", "task.name=chat", "--no-panel", *overrides)
    return launch, launch.wait_for_link()


def test_two_workers_chat_to_completion_stored_and_exported(chat_task, mephisto_launch, mephisto_cli_env):
    launch, link = _launch(mephisto_launch, chat_task)
    alice = SocketWorker(link, "alice")
    alice.live("waiting", present=1, needed=2)
    bob = SocketWorker(link, "bob")
    assert alice.live("start")["you"] == "Worker 1" and bob.live("start")["you"] == "Worker 2"
    assert "Welcome" in bob.live("message", sender=None)["data"]["text"]
    lines = [(alice, "hello bob"), (bob, "hi alice"), (alice, "I like Dune"), (bob, "me too")]
    for speaker, text in lines:
        echo = speaker.say(text)
        listener = bob if speaker is alice else alice
        relayed = listener.live("message", data={"text": text})
        assert relayed["seq"] == echo["seq"] and relayed["sender"] == echo["sender"]
    for worker in (alice, bob):
        assert worker.live("episode_done")["outcome"] == "completed"
        worker.status("completed")
    # A page back after the end gets the stored unit as submitted, not a new one.
    again = SocketWorker(link, "alice", token=alice.token)
    assert again.hello["type"] == "assigned" and again.hello["submitted"] is True
    launch.stop_cleanly()
    rows = [row for row in _export(mephisto_cli_env, chat_task) if row["status"] == "completed"]
    assert len(rows) == 2 and rows[0]["assignment_id"] == rows[1]["assignment_id"]
    transcript = rows[0]["outputs"]["transcript"]
    said = [(line["sender"], line["data"]["text"]) for line in transcript if line["sender"]]
    assert said == [
        ("Worker 1", "hello bob"),
        ("Worker 2", "hi alice"),
        ("Worker 1", "I like Dune"),
        ("Worker 2", "me too"),
    ]
    assert [line["seq"] for line in transcript] == list(range(1, len(transcript) + 1))
    assert rows[0]["outputs"]["episode"] == "completed" and rows[0]["outputs"]["turns"] == 2
