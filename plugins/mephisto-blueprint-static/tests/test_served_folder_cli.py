"""`extra_source_dir` through the real `mephisto` command and router: check and launch refuse a link leaving the
folder with the same message and warn alike about private files served; the router serves links that stay inside
and never a file behind a link that leads out of the build."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from mephisto_core.settings import Settings

WARNING = "blueprint.extra_source_dir ({folder}) is served to every worker, and it holds"


def write_task(folder: Path, extra_source_dir: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.html").write_text('<p>${text}</p><img src="alias.svg"><input name="label">')
    (folder / "data.csv").write_text("text\nfirst\n")
    (folder / "assets").mkdir(exist_ok=True)
    (folder / "assets" / "cat.svg").write_text("<svg>cat</svg>")
    config = {
        "task": {"name": "served-folder", "title": "Served folder"},
        "blueprint": {
            "type": "static",
            "task_source": "task.html",
            "data_csv": "data.csv",
            "extra_source_dir": extra_source_dir,
        },
        "architect": {"type": "local", "port": 0},
        "provider": {"type": "mock"},
    }
    path = folder / "task.toml"
    path.write_text(tomli_w.dumps(config))
    return path


def mephisto(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mephisto_core.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def launches(mephisto_cli_env: dict[str, str], tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_launch(env: dict[str, str], task: Path, log: Path, started: list[subprocess.Popen[str]]) -> str:
    """`mephisto launch TASK --no-panel` in the background; the router's base URL once it printed the link."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mephisto_core.cli", "launch", str(task), "--no-panel"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    started.append(proc)
    deadline = time.monotonic() + 60
    while not (links := re.findall(r"Worker link: (https?://[^/\s]+)", log.read_text())):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return links[0]


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_check_and_launch_refuse_a_link_leaving_the_folder_with_the_same_message(
    mephisto_cli_env: dict[str, str], tmp_path: Path, mephisto_settings: Settings
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for workers")
    task = write_task(tmp_path / "task", "assets")
    (tmp_path / "task" / "assets" / "notes.txt").symlink_to(secret)
    expected = f"holds the link notes.txt -> {secret}, which leads out of the folder"

    checked = mephisto(mephisto_cli_env, "check", str(task))
    launched = mephisto(mephisto_cli_env, "launch", str(task), "--no-panel")
    for result in (checked, launched):
        assert result.returncode == 1, result.stdout + result.stderr
        assert expected in result.stderr and "blueprint.extra_source_dir" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    builds = list(mephisto_settings.runs_dir.glob("*/build")) if mephisto_settings.runs_dir.exists() else []
    assert not any(b"not for workers" in path.read_bytes() for b in builds for path in b.rglob("*") if path.is_file())


def test_check_and_launch_warn_when_the_task_folder_itself_is_served(
    mephisto_cli_env: dict[str, str], tmp_path: Path, launches: list[subprocess.Popen[str]]
) -> None:
    task = write_task(tmp_path / "task", ".")
    warning = WARNING.format(folder=task.parent)
    checked = mephisto(mephisto_cli_env, "check", str(task))
    assert checked.returncode == 0, checked.stderr
    assert warning in checked.stderr and "the data file data.csv" in checked.stderr

    log = tmp_path / "launch.log"
    base = start_launch(mephisto_cli_env, task, log, launches)
    assert warning in log.read_text()
    # What the warning is about: the task file is downloadable.
    status, body = http_get(base + "/task.toml")
    assert status == 200 and b"served-folder" in body


def test_the_router_serves_inside_links_and_nothing_behind_a_link_leading_out(
    mephisto_cli_env: dict[str, str], tmp_path: Path, mephisto_settings: Settings, launches: list[subprocess.Popen[str]]
) -> None:
    task = write_task(tmp_path / "task", "assets")
    (tmp_path / "task" / "assets" / "alias.svg").symlink_to("cat.svg")
    base = start_launch(mephisto_cli_env, task, tmp_path / "launch.log", launches)
    assert http_get(base + "/alias.svg") == (200, b"<svg>cat</svg>")

    # A link that leads out of the build, put there behind the blueprint's back, is not followed.
    secret = tmp_path / "secret.txt"
    secret.write_text("not for workers")
    (build,) = mephisto_settings.runs_dir.glob("*/build")
    (build / "leak.txt").symlink_to(secret)
    status, body = http_get(base + "/leak.txt")
    assert status == 404 and b"not for workers" not in body
