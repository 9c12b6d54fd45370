"""`mephisto launch --simulate 2` on the chat template: simulated workers pair up and chat every conversation."""

from __future__ import annotations

import json

from mephisto_core.testing.processes import run_mephisto


def test_simulated_workers_chat_every_assignment_to_completion(chat_task, mephisto_launch, mephisto_cli_env):
    launch = mephisto_launch(str(chat_task), "architect.port=0", "blueprint.num_assignments=2", "--simulate", "2")
    assert launch.wait(60) == 0, launch.output()
    assert "All 4 units are done." in launch.output()
    made = run_mephisto("export", "--task", "chat", env=mephisto_cli_env)
    rows = [json.loads(line) for line in made.stdout.splitlines()]
    assert len(rows) == 4 and {row["outputs"]["episode"] for row in rows} == {"completed"}
    for row in rows:
        lines = row["outputs"]["transcript"]
        welcomes = [line["to"] for line in lines if line["sender"] is None]
        assert welcomes == ["Worker 1", "Worker 2"]  # the task's words to each worker, stored with who heard them
        said = [line["sender"] for line in lines if line["sender"]]
        assert said == ["Worker 1", "Worker 2", "Worker 1", "Worker 2"]
