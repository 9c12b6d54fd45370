"""`[architect] type = "remote"`: a real `mephisto launch` against `mephisto router serve` over TLS on 127.0.0.1.

The router runs as its own process with a certificate from a test CA, as it would on a lab's VM; the launch
pushes the task to it over wss://, simulated workers (and one Chromium) do the units, and a router restart in
the middle of a run loses no acknowledged submission.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_helpers import LaunchProcess, mephisto, submit_and_wait
from mephisto_architect_remote.testing import RouterProcess, TlsFiles, make_tls_files

from mephisto_core.data_model import Agent, AgentStatus, TaskRun, Unit, UnitStatus, open_database
from mephisto_core.settings import Settings

SECRET = "e2e-deploy-secret-0123456789abcdef"
LINK = re.compile(r"Worker link: (https://\S+)")


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    """A test CA and a certificate for 127.0.0.1 it signed."""
    return make_tls_files(tmp_path / "tls")


@pytest.fixture
def remote_env(mephisto_cli_env: dict[str, str], tls: TlsFiles) -> dict[str, str]:
    """The launch's environment: the deploy secret, and the test CA for the simulated workers' wss:// sockets.

    (The operator's channel trusts the CA through `architect.ca_file`; the bots use the system's trust store,
    which SSL_CERT_FILE replaces.)
    """
    mephisto_cli_env["MEPHISTO_ROUTER_SECRET"] = SECRET
    mephisto_cli_env["SSL_CERT_FILE"] = str(tls.ca_file)
    return mephisto_cli_env


@pytest.fixture
def router(tmp_path: Path, tls: TlsFiles, mephisto_cli_env: dict[str, str]) -> Iterator[RouterProcess]:
    """`mephisto router serve` over TLS on a free port of 127.0.0.1, stopped after the test."""
    process = RouterProcess(
        tmp_path / "router-data", SECRET, tls, env=mephisto_cli_env, log_path=tmp_path / "router.log"
    )
    process.start()
    yield process
    process.stop()


def _use_remote(task_toml: Path, router: RouterProcess, tls: TlsFiles, rows: int | None = None) -> None:
    """Replace the template's local [architect] section with the remote one (and its data with `rows` rows)."""
    text = task_toml.read_text(encoding="utf-8")
    start = text.index("[architect]")
    end = text.index("[provider]")
    remote = f'[architect]\ntype = "remote"\nurl = "{router.url}"\nca_file = "{tls.ca_file}"\n\n'
    text = text[:start] + remote + text[end:]
    if rows is not None:
        data = task_toml.parent / "many.csv"
        with data.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["topic", "prompt"])
            writer.writerows([f"topic-{i}", f"Describe thing number {i}."] for i in range(rows))
        text = re.sub(r'(?m)^data_csv = ".*"$', 'data_csv = "many.csv"', text)
    task_toml.write_text(text, encoding="utf-8")


def _link(launch: LaunchProcess, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while (match := LINK.search(launch.output())) is None:
        assert launch.proc.poll() is None, f"launch exited with {launch.proc.returncode}:\n{launch.output()}"
        assert time.monotonic() < deadline, f"no https worker link after {timeout} s:\n{launch.output()}"
        time.sleep(0.1)
    return match.group(1)


def _acks(path: Path) -> set[str]:
    if not path.exists():
        return set()
    text = path.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1]  # the launch may be writing the last line right now
    return {json.loads(line)["submit_key"] for line in complete.splitlines() if line}


def _open(settings: Settings):  # type: ignore[no-untyped-def]
    return open_database(None, settings.sqlite_path)


def test_check_shows_the_router_version_and_an_accepted_secret(
    static_task: Path, router: RouterProcess, tls: TlsFiles, remote_env: dict[str, str]
) -> None:
    _use_remote(static_task, router, tls)
    done = mephisto("check", static_task, env=remote_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"router {router.url}: mephisto " in done.stderr
    assert "deploy secret from the environment variable MEPHISTO_ROUTER_SECRET accepted" in done.stderr
    assert SECRET not in done.stdout + done.stderr

    wrong = mephisto("check", static_task, env={**remote_env, "MEPHISTO_ROUTER_SECRET": "not-the-deploy-secret-at-all"})
    assert wrong.returncode == 1
    assert "secret" in wrong.stderr.lower()
    assert "not-the-deploy-secret-at-all" not in wrong.stdout + wrong.stderr


def test_simulated_workers_finish_a_run_through_the_remote_router_over_tls(
    static_task: Path,
    router: RouterProcess,
    tls: TlsFiles,
    remote_env: dict[str, str],
    start_launch: Callable[..., LaunchProcess],
    mephisto_settings: Settings,
) -> None:
    _use_remote(static_task, router, tls)
    launch = start_launch(str(static_task), "--simulate", "3", "--no-panel")
    assert _link(launch).startswith(router.url)
    assert launch.wait(60) == 0, launch.output()
    assert "All 4 units are done" in launch.output()
    assert SECRET not in launch.output() + router.output()
    db = _open(mephisto_settings)
    try:
        assert [u.status for u in Unit.select()] == [UnitStatus.COMPLETED] * 4
        assert TaskRun.get().is_completed
    finally:
        db.close()
    # The launch is over, the lab's router is not: it still answers, ready for the next task.
    assert router.proc is not None and router.proc.poll() is None


def test_a_router_restart_mid_run_loses_nothing_acknowledged(
    static_task: Path,
    router: RouterProcess,
    tls: TlsFiles,
    remote_env: dict[str, str],
    start_launch: Callable[..., LaunchProcess],
    mephisto_settings: Settings,
    tmp_path: Path,
) -> None:
    rows = 300  # enough that the run is far from done when the router is killed, even on a fast machine
    _use_remote(static_task, router, tls, rows=rows)
    acks = tmp_path / "acks.jsonl"
    launch = start_launch(
        str(static_task),
        "task.disconnect_grace_seconds=30",
        "--simulate",
        "6",
        "--simulate-log",
        str(acks),
        "--no-panel",
    )
    _link(launch)
    deadline = time.monotonic() + 60
    while len(_acks(acks)) < 30:
        assert time.monotonic() < deadline, launch.output()
        time.sleep(0.01)
    router.kill()  # SIGKILL: the router keeps nothing but the pushed build on disk
    before = _acks(acks)
    assert len(before) < rows
    router.start()
    assert launch.wait(180) == 0, launch.output() + "\n--- router ---\n" + router.output()

    assert router.output().count("READY ") == 2, "the router was started twice"
    assert "the router restarted" in launch.output()
    acknowledged = _acks(acks)
    assert before <= acknowledged
    db = _open(mephisto_settings)
    try:
        stored = [a.submit_key for a in Agent.select().where(Agent.status == AgentStatus.COMPLETED)]
        assert len(stored) == rows == len(set(stored))
        assert acknowledged <= set(stored)
        assert {u.status for u in Unit.select()} == {UnitStatus.COMPLETED}
    finally:
        db.close()


def test_a_chromium_worker_submits_through_the_remote_router(
    static_task: Path,
    router: RouterProcess,
    tls: TlsFiles,
    remote_env: dict[str, str],
    start_launch: Callable[..., LaunchProcess],
    browser,  # type: ignore[no-untyped-def]
    mephisto_settings: Settings,
) -> None:
    _use_remote(static_task, router, tls)
    launch = start_launch(str(static_task), "--no-panel")
    _link(launch)
    # Chromium has its own trust store: the test CA is accepted for this context only.
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.goto(f"{router.url}?worker_id=carol")
    page.locator("select[name=frequency]").select_option("weekly")
    page.locator("textarea[name=answer]").fill("On the train to work, with headphones on.")
    submit_and_wait(page, timeout_ms=20_000)
    context.close()
    launch.stop_cleanly(60)
    db = _open(mephisto_settings)
    try:
        (agent,) = Agent.select().where(Agent.status == AgentStatus.COMPLETED)
        assert agent.worker.name == "carol"
        assert agent.outputs["answer"] == "On the train to work, with headphones on."
    finally:
        db.close()


def test_a_router_gone_longer_than_the_limit_stops_the_run_and_a_relaunch_resumes_it(
    static_task: Path,
    router: RouterProcess,
    tls: TlsFiles,
    remote_env: dict[str, str],
    start_launch: Callable[..., LaunchProcess],
    mephisto_settings: Settings,
    tmp_path: Path,
) -> None:
    rows = 300
    _use_remote(static_task, router, tls, rows=rows)
    acks = tmp_path / "acks.jsonl"
    args = [str(static_task), "architect.give_up_after_seconds=2", "--simulate-log", str(acks), "--no-panel"]
    first = start_launch(*args, "--simulate", "2")
    _link(first)
    deadline = time.monotonic() + 60
    while len(_acks(acks)) < 10:
        assert time.monotonic() < deadline, first.output()
        time.sleep(0.01)
    router.kill()  # and it stays down past architect.give_up_after_seconds
    assert first.wait(60) != 0
    output = first.output()
    assert f"the router at {router.url} has not answered for " in output
    assert "launch the same task again to resume" in output
    before = _acks(acks)
    assert 10 <= len(before) < rows

    router.start()
    second = start_launch(*args, "--simulate", "3")
    assert second.wait(120) == 0, second.output()
    assert "Resumed task" in second.output()
    db = _open(mephisto_settings)
    try:
        stored = [a.submit_key for a in Agent.select().where(Agent.status == AgentStatus.COMPLETED)]
        assert len(stored) == rows == len(set(stored))
        assert before <= _acks(acks) <= set(stored)
    finally:
        db.close()
