"""A bundle written without any framework or bundler, in real Chromium: its index.html imports /mephisto-task.mjs,
the client tag put first makes window.mephisto exist, the module's call() runs the task's Python procedure (an
answer, and a refusal with its code), and a file uploaded through handleSubmit is stored byte for byte; a file
under a field the task does not list is refused by the server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bundle_support import write_files
from playwright.sync_api import Browser

from mephisto_core.data_model import Agent, AgentFile, AgentStatus, open_database
from mephisto_core.data_model.procedure_calls import ProcedureCall
from mephisto_core.settings import Settings
from mephisto_core.testing.processes import LaunchProcess

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Upload</title></head>
<body>
  <p id="sentence"></p>
  <script type="module">
    import { whenReady, handleSubmit, call } from "/mephisto-task.mjs";
    const info = await whenReady();
    document.getElementById("sentence").textContent = info.initialTaskData.sentence;
    window.send = (field, text) =>
      handleSubmit({ label: "ok" }, { [field]: new File([text], "note.txt", { type: "text/plain" }) }).then(
        (answer) => answer.next,
        (err) => err.fields
      );
    window.score = (text) =>
      call("score", { text }).then(
        (result) => result,
        (err) => ({ code: err.code, message: err.message })
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

[task.procedures]
module = "procedures.py"

[architect]
type = "local"
port = 0

[provider]
type = "mock"
"""

PROCEDURES = """
from mephisto_core.procedures import ProcedureError, procedure


@procedure
def score(args):
    if not args.get("text"):
        raise ProcedureError("Type something first.")
    return {"words": len(args["text"].split())}
"""


def test_a_framework_free_bundle_uploads_a_file_through_the_module(
    tmp_path: Path, mephisto_launch: Callable[..., LaunchProcess], browser: Browser, mephisto_settings: Settings
) -> None:
    task_dir = tmp_path / "upload-task"
    files = {
        "task.toml": TASK,
        "data.csv": "sentence\nkeep this\n",
        "dist/index.html": PAGE,
        "procedures.py": PROCEDURES,
    }
    write_files(task_dir, files)
    launch = mephisto_launch(str(task_dir / "task.toml"), "--no-panel")
    base = launch.wait_for_link().split("?")[0]
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}?worker_id=carol")
    page.get_by_text("keep this").wait_for(timeout=15_000)

    assert page.evaluate("() => window.score('three short words')") == {"words": 3}
    failed = page.evaluate("() => window.score('')")
    assert failed == {"code": "procedure_failed", "message": "Type something first."}
    refused = page.evaluate("() => window.send('resume', 'not asked for')")
    assert refused == {"resume": "This task takes no file named 'resume' (upload fields: photo)."}
    assert page.evaluate("() => window.send('photo', 'héllo, file')") == "done"
    context.close()
    launch.stop_cleanly()

    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        (agent,) = Agent.select()
        assert agent.status == AgentStatus.COMPLETED
        assert agent.outputs == {"label": "ok"}
        (stored,) = AgentFile.select().where(AgentFile.agent == agent)
        assert (stored.field, stored.name, stored.content_type) == ("photo", "note.txt", "text/plain")
        assert (mephisto_settings.data_dir / stored.path).read_bytes() == "héllo, file".encode()
        calls = ProcedureCall.select().where(ProcedureCall.agent == agent).order_by(ProcedureCall.id)
        assert [(c.name, c.args, c.result, c.error_code) for c in calls] == [
            ("score", {"text": "three short words"}, {"words": 3}, None),
            ("score", {"text": ""}, None, "procedure_failed"),
        ]
    finally:
        db.close()
