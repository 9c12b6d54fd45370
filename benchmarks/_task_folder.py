"""The benchmark's task folder: `mephisto init --template static`, then a generated data.csv and task.html.

The static template's page has an optional photo input, and the static blueprint's simulated answer attaches a
file whenever the page has a file input. Without `--with-files` the benchmark measures plain submissions, so
the page is rewritten without that input; with it, the template's page is kept as it is.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path

TASK_NAME = "load-e2e"
# One <p> block of the template that holds an <input type="file">: the label and the input together.
_FILE_PARAGRAPH = re.compile(r"<p>(?:(?!</p>).)*?type=\"file\"(?:(?!</p>).)*?</p>\s*", re.DOTALL)
_FILE_INPUT = re.compile(r"<input\b[^>]*\btype=\"file\"", re.IGNORECASE)


class TaskFolderError(RuntimeError):
    """The task folder could not be made as the benchmark needs it; the message says what and where."""


def make_task_folder(
    parent: Path, units: int, *, with_files: bool, mephisto: list[str], env: Mapping[str, str]
) -> Path:
    """Create `parent/load-e2e/` from the static template with `units` data rows; return its task.toml."""
    folder = parent / TASK_NAME
    result = subprocess.run(
        [*mephisto, "init", str(folder), "--template", "static"],
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise TaskFolderError(
            f"`mephisto init {folder} --template static` failed (exit {result.returncode}):\n"
            f"{result.stdout}{result.stderr}"
        )
    task_html = folder / "task.html"
    html = task_html.read_text(encoding="utf-8")
    if not _FILE_INPUT.search(html):
        raise TaskFolderError(
            f'{task_html}: the static template\'s page has no <input type="file">; the benchmark expects '
            "one (kept for --with-files, removed otherwise)"
        )
    if not with_files:
        html = _FILE_PARAGRAPH.sub("", html)
        if _FILE_INPUT.search(html):
            raise TaskFolderError(
                f"{task_html}: could not remove the file input from the template's page (it is not inside "
                "its own <p> block any more); update benchmarks/_task_folder.py to the new template"
            )
        task_html.write_text(html, encoding="utf-8")
    write_data_csv(folder / "data.csv", units)
    return folder / "task.toml"


def add_requirement(task_toml: Path, name: str, comparator: str) -> None:
    """Append a `[[task.qualifications]]` entry to `task_toml` (the template has none, so the array starts here)."""
    with task_toml.open("a", encoding="utf-8") as fh:
        fh.write(f"\n[[task.qualifications]]\nname = {json.dumps(name)}\ncomparator = {json.dumps(comparator)}\n")


ONBOARDING_PAGE = """<p>Before the task: say in a few words what you will look for.</p>
<textarea name="intent" required></textarea>
"""


def add_onboarding(task_toml: Path) -> None:
    """Give the task an onboarding page (`onboarding.html`), which every worker takes before their first unit.

    The static blueprint passes every onboarding submission, so a bot passes with any answer (the lean bots send
    their task answer); what is measured is the test's path: a new worker's hello, its attempt, its grading and
    the `<task>-onboarding` grant, then the hello that gets a unit."""
    (task_toml.parent / "onboarding.html").write_text(ONBOARDING_PAGE, encoding="utf-8")
    text = task_toml.read_text(encoding="utf-8")
    if text.count("\n[blueprint]\n") != 1:
        raise TaskFolderError(f"{task_toml}: no single [blueprint] table to add onboarding_source to")
    text = text.replace("\n[blueprint]\n", '\n[blueprint]\nonboarding_source = "onboarding.html"\n')
    task_toml.write_text(text, encoding="utf-8")


GOLD_ROWS = 50  # more than any bot's share of gold units: each gold unit is one the worker has not seen


def add_gold(task_toml: Path, every: int) -> None:
    """Mix gold units into each worker's units (`[task.gold]`): their first unit and every `every`-th after it.

    The gold answer is one of the page's four frequencies, so a bot (which picks one at random) is right about one
    time in four; `max_wrong` is set out of reach, so that no bot is stopped and every data unit gets done. What is
    measured is the gold path: the gold unit made for the worker at their hello, and its grading at submission."""
    rows = [
        {"inputs": {"topic": f"gold-{i}", "prompt": f"Describe gold thing {i}."}, "answers": {"frequency": "weekly"}}
        for i in range(GOLD_ROWS)
    ]
    (task_toml.parent / "gold.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with task_toml.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[task.gold]\ndata_jsonl = "gold.jsonl"\nevery = {every}\nmax_wrong = 1000000\n')


SCREENING_CHECKS = """def screen(inputs, outputs):
    \"\"\"Every answer passes: the benchmark measures the screening path, not workers stopped by it.\"\"\"
    return bool(outputs)
"""


def add_screening(task_toml: Path, units: int) -> None:
    """Screen each worker's first `units` units (`[task.screening]`) with a validator every bot's answer passes:
    what is measured is the screening path (each unscreened worker's standing at their hello, the validator and its
    review at submission, the `<task>-screened` grant after the last one), not workers stopped by it."""
    (task_toml.parent / "checks.py").write_text(SCREENING_CHECKS, encoding="utf-8")
    with task_toml.open("a", encoding="utf-8") as fh:
        fh.write(f'\n[task.screening]\nunits = {units}\nvalidator = "checks:screen"\n')


def write_data_csv(path: Path, rows: int) -> None:
    """Write `rows` rows with the template's columns (topic, prompt), each row distinct."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["topic", "prompt"])
        for i in range(rows):
            writer.writerow([f"topic-{i}", f"Describe thing number {i} that you enjoy, in a few words."])
