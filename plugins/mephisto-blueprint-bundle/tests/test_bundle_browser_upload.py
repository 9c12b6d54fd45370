"""A bundle written without any framework or bundler, in real Chromium: its index.html imports /mephisto-task.mjs,
the client tag put first makes window.mephisto exist, and a file uploaded through handleSubmit is stored byte for
byte; a file under a field the task does not list is refused by the server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bundle_support import write_files

from mephisto_core.data_model import Agent, AgentFile, AgentStatus, open_database
from mephisto_core.settings import Settings
from mephisto_core.testing.processes import LaunchProcess

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Upload</title></head>
<body>
  <p id="sentence"></p>
  <script type="module">
    import { whenReady, handleSubmit } from "/mephisto-task.mjs";
    const info = await whenReady();
    document.getElementById("sentence").textContent = info.initialTaskData.sentence;
    window.send = (field, text) =>
      handleSubmit({ label: "ok" }, { [field]: new File([text], "note.txt", { type: "text/plain" }) }).then(
        (answer) => answer.next,
        (err) => err.fields
      );
  </script>
</body></html>
"""
TASK = """
[task]
name = "bundle-upload"
title = "Upload a note"
description = "Attach a small text file."
reward = 0.01

[blueprint]
type = "bundle"
data_csv = "data.csv"
required_outputs = ["label"]
upload_fields = ["photo"]

[architect]
type = "local"
port = 0

[provider]
type = "mock"
"""


def test_a_framework_free_bundle_uploads_a_file_through_the_module(
    tmp_path: Path, mephisto_launch: Callable[..., LaunchProcess], browser, mephisto_settings: Settings
) -> None:
    task_dir = tmp_path / "upload-task"
    write_files(task_dir, {"task.toml": TASK, "data.csv": "sentence\nkeep this\n", "dist/index.html": PAGE})
    launch = mephisto_launch(str(task_dir / "task.toml"), "--no-panel")
    base = launch.wait_for_link().split("?")[0]
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}?worker_id=carol")
    page.get_by_text("keep this").wait_for(timeout=15_000)

    refused = page.evaluate("() => window.send('resume', 'not asked for')")
    assert refused == {"resume": "This task takes no file named 'resume' (upload fields: photo)."}
    assert page.evaluate("() => window.send('photo', 'héllo, file')") == "done"
    context.close()
    launch.interrupt()
    assert launch.wait(30) == 0, launch.output()

    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        (agent,) = Agent.select()
        assert agent.status == AgentStatus.COMPLETED
        assert agent.outputs == {"label": "ok"}
        (stored,) = AgentFile.select().where(AgentFile.agent == agent)
        assert (stored.field, stored.name, stored.content_type) == ("photo", "note.txt", "text/plain")
        assert (mephisto_settings.data_dir / stored.path).read_bytes() == "héllo, file".encode()
    finally:
        db.close()
