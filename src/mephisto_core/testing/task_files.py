"""A static task's folder for tests that launch one: its page, a data file of topics and the task file."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import tomli_w


def write_static_task(folder: Path, html: str, topics: list[str], architect: dict[str, Any], **task: Any) -> Path:
    """Write `folder`'s task.html (`html`), data.csv (one unit per topic, column `topic`) and task.toml (the static
    blueprint, the mock provider, `architect`, and `task` as its `[task]` section); return the task file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.html").write_text(html)
    with (folder / "data.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["topic"])
        writer.writerows([topic] for topic in topics)
    config = {
        "task": task,
        "blueprint": {"type": "static", "task_source": "task.html", "data_csv": "data.csv"},
        "architect": architect,
        "provider": {"type": "mock"},
    }
    path = folder / "task.toml"
    path.write_text(tomli_w.dumps(config))
    return path
