"""`mephisto cleanup`: what a kill -9'd launch left (a router process, offered units) is listed and removed.

Real processes throughout: a real `mephisto launch` with its router as a child process, killed with SIGKILL;
`mephisto cleanup` run as a fresh process against the same data dir.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from mephisto_architect_local.leftovers import ROUTER_RECORD, process_start

from mephisto_core.abstractions.leftovers import CleanupScope, Leftover, LeftoverCleaner, LeftoverKind
from mephisto_core.data_model import Unit, open_database
from mephisto_core.hookspecs import hookimpl
from mephisto_core.operations import cleanup as ops
from mephisto_core.settings import Settings
from mephisto_core.testing.processes import run_mephisto


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _router_record(settings: Settings) -> dict[str, Any]:
    records = list(settings.runs_dir.glob(f"*/{ROUTER_RECORD}"))
    assert len(records) == 1, records
    return dict(json.loads(records[0].read_text(encoding="utf-8")))


def _unit_statuses(settings: Settings) -> list[str]:
    database = open_database(None, settings.sqlite_path)
    try:
        return sorted(unit.status for unit in Unit.select())
    finally:
        database.close()


@pytest.fixture
def killed_launch(
    mephisto_init: Callable[..., Path], mephisto_launch: Callable[..., Any], mephisto_settings: Settings
) -> Iterator[int]:
    """A launch whose router child is stopped (SIGSTOP) and which is then killed with SIGKILL: its router pid.

    Stopped, the router cannot notice its parent's death and exit (what it does otherwise): a router left
    running, as a hung one would be.
    """
    task = mephisto_init("static")
    launch = mephisto_launch(task, "architect.port=0", "architect.mode=subprocess")
    launch.wait_for_link(timeout=60)
    _wait_for(lambda: bool(list(mephisto_settings.runs_dir.glob(f"*/{ROUTER_RECORD}"))), "the router record")
    pid = int(_router_record(mephisto_settings)["pid"])
    started = process_start(pid)
    os.kill(pid, signal.SIGSTOP)
    launch.kill()
    yield pid
    if started is not None and process_start(pid) == started:  # a failed test must not leave it stopped for ever
        os.killpg(pid, signal.SIGKILL)


def test_cleanup_lists_then_removes_what_a_killed_launch_left(
    killed_launch: int,
    mephisto_cli_env: dict[str, str],
    mephisto_settings: Settings,
    mephisto_launch: Callable[..., Any],
    tmp_path: Path,
) -> None:
    router = killed_launch
    started = process_start(router)
    assert started is not None  # still there after its launch was killed

    listed = run_mephisto("cleanup", "--dry-run", env=mephisto_cli_env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert f"router process {router} serving http://" in listed.stdout
    assert "architect local" in listed.stdout and "provider mock" in listed.stdout
    assert "still offered, but no process serves the run" in listed.stdout
    assert "2 item(s) left behind" in listed.stdout
    assert process_start(router) == started and "launched" in _unit_statuses(mephisto_settings)  # dry run

    refused = run_mephisto("cleanup", env=mephisto_cli_env)  # no terminal, no --yes
    assert refused.returncode == 1
    assert "not removing anything: there is no terminal to confirm on. Run with --yes." in refused.stderr
    assert process_start(router) == started

    removed = run_mephisto("cleanup", "--yes", env=mephisto_cli_env)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert f"Removed: architect local: stopped router process {router} of run 1" in removed.stdout
    assert "Removed: provider mock: withdrew" in removed.stdout
    assert process_start(router) is None
    assert not list(mephisto_settings.runs_dir.glob(f"*/{ROUTER_RECORD}"))
    assert "launched" not in _unit_statuses(mephisto_settings)

    again = run_mephisto("cleanup", "--dry-run", env=mephisto_cli_env)
    assert again.returncode == 0 and "Nothing left behind." in again.stdout

    # The run itself is intact: the next launch resumes it and offers the withdrawn units again.
    resumed = mephisto_launch(tmp_path / "study" / "task.toml", "architect.port=0", "architect.mode=subprocess")
    resumed.wait_for_link(timeout=60)
    _wait_for(lambda: "launched" in _unit_statuses(mephisto_settings), "the units offered again")
    resumed.stop_cleanly(60)


def test_cleanup_of_one_provider_leaves_the_architect_s_router(
    killed_launch: int, mephisto_cli_env: dict[str, str]
) -> None:
    router = killed_launch
    only_mock = run_mephisto("cleanup", "--provider", "mock", "--yes", env=mephisto_cli_env)
    assert only_mock.returncode == 0, only_mock.stdout + only_mock.stderr
    assert "provider mock" in only_mock.stdout and "architect local" not in only_mock.stdout
    assert process_start(router) is not None
    unknown = run_mephisto("cleanup", "--provider", "mturk_nope", env=mephisto_cli_env)
    assert unknown.returncode == 1
    assert "no installed provider type 'mturk_nope' lists leftovers" in unknown.stderr


def test_a_live_launch_leaves_nothing_to_clean_and_ends_without_a_warning(
    mephisto_init: Callable[..., Path], mephisto_launch: Callable[..., Any], mephisto_cli_env: dict[str, str]
) -> None:
    launch = mephisto_launch(mephisto_init("static"), "architect.port=0", "architect.mode=subprocess")
    launch.wait_for_link(timeout=60)
    listed = run_mephisto("cleanup", "--dry-run", env=mephisto_cli_env)
    assert listed.returncode == 0 and "Nothing left behind." in listed.stdout  # its router and units are in use
    launch.stop_cleanly(60)
    assert "thing(s) behind" not in launch.output()  # the end-of-launch check found nothing
    assert "Nothing left behind." in run_mephisto("cleanup", "--dry-run", env=mephisto_cli_env).stdout


class _Stuck(LeftoverCleaner):
    """A provider whose platform keeps one 'HIT' per run it is asked about, and cannot remove it."""

    kind: ClassVar[LeftoverKind] = "provider"
    type_name: ClassVar[str] = "stuck_test"

    def find(self, scope: CleanupScope) -> list[Leftover]:
        run = 7 if scope.run_id is None else scope.run_id
        return [Leftover(self.kind, self.type_name, f"HIT of run {run}", "$0.10 per hour", run, "hit")]

    def remove(self, scope: CleanupScope, leftover: Leftover) -> str:
        raise RuntimeError("the platform is down")


class _Broken(LeftoverCleaner):
    kind: ClassVar[LeftoverKind] = "architect"
    type_name: ClassVar[str] = "broken_test"

    def find(self, scope: CleanupScope) -> list[Leftover]:
        raise OSError("cannot read the cloud's inventory")

    def remove(self, scope: CleanupScope, leftover: Leftover) -> str:
        raise OSError("cannot reach the cloud")  # never asked: find already fails


class _Plugin:
    @hookimpl
    def mephisto_cleanup(self, register: Callable[[LeftoverCleaner], None]) -> None:
        register(_Stuck())
        register(_Broken())


def test_the_end_of_launch_check_names_what_the_run_left_and_the_command(
    mephisto_register_plugin: Callable[[object], None],
    sqlite_database: Any,
    mephisto_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mephisto_register_plugin(_Plugin())
    left = ops.warn_about_leftovers(mephisto_settings, sqlite_database, 3)
    assert [(item.type_name, item.what) for item in left] == [("stuck_test", "HIT of run 3")]
    assert "run 3 left 1 thing(s) behind: provider stuck_test: HIT of run 3 (costs $0.10 per hour)" in caplog.text
    assert "`mephisto cleanup --dry-run` lists them" in caplog.text
    assert "architect broken_test: could not list its leftovers (OSError: cannot read the cloud's inventory)" in (
        caplog.text
    )


def test_a_removal_that_fails_is_reported_and_the_command_fails(
    mephisto_register_plugin: Callable[[object], None], mephisto_cli: Any, sqlite_database: Any
) -> None:
    mephisto_register_plugin(_Plugin())
    result = mephisto_cli("cleanup", "--provider", "stuck_test", "--yes")
    assert result.exit_code == 1
    assert "NOT removed: provider stuck_test: RuntimeError: the platform is down" in result.output
    assert "1 of 1 item(s) could not be removed" in result.output


def test_every_launch_ends_by_checking_its_own_run(
    test_types: None,
    mephisto_register_plugin: Callable[[object], None],
    task_file: Callable[..., Path],
    mephisto_settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    from mephisto_core.operations.run.operator import Operator
    from mephisto_core.task_config import load_task_config

    mephisto_register_plugin(_Plugin())
    config = load_task_config(task_file(rows=2))
    database = open_database(None, mephisto_settings.sqlite_path)

    async def main() -> int:
        operator = Operator(mephisto_settings, database)
        run = asyncio.create_task(operator.run(config))
        await asyncio.wait_for(operator.ready.wait(), 20)
        operator.request_stop()
        await asyncio.wait_for(run, 20)
        return operator.stats.run_id

    try:
        run_id = asyncio.run(main())
    finally:
        database.close()
    assert f"run {run_id} left 1 thing(s) behind: provider stuck_test: HIT of run {run_id}" in caplog.text


def test_a_run_folder_the_database_no_longer_has_is_listed_and_deleted(
    mephisto_cli: Any, mephisto_settings: Settings, sqlite_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one table row per line
    folder = mephisto_settings.runs_dir / "42"
    (folder / "build").mkdir(parents=True)
    (folder / "build" / "index.html").write_bytes(b"x" * 300_000)
    (mephisto_settings.runs_dir / "notes").mkdir()  # not a run folder: never touched
    listed = mephisto_cli("cleanup", "--dry-run")
    assert listed.exit_code == 0, listed.output
    words = " ".join(listed.output.split())
    assert "folder of run 42, which the database no longer has" in words and "0.3 MB of disk" in words
    removed = mephisto_cli("cleanup", "--yes")
    assert removed.exit_code == 0, removed.output
    assert f"Removed: architect local: deleted {folder}" in " ".join(removed.output.split())
    assert not folder.exists() and (mephisto_settings.runs_dir / "notes").is_dir()


def test_offered_units_of_a_dead_run_are_withdrawn_but_a_live_run_s_are_left(
    database: Any, mephisto_settings: Settings
) -> None:
    """On SQLite and PostgreSQL: the liveness rule is the one a launch uses (owner process alive and beating)."""
    import socket

    from mephisto_core.abstractions import OfferedUnitsCleaner
    from mephisto_core.data_model import TaskRun, UnitStatus
    from mephisto_core.data_model.models import utcnow
    from mephisto_core.testing.runs import create_held_unit

    dead = create_held_unit(database, task_name="dead", worker_name="a")
    live = create_held_unit(database, task_name="live", worker_name="b")
    finished = create_held_unit(database, task_name="finished", worker_name="c")
    with database.write():
        for held in (dead, live, finished):
            Unit.update(status=UnitStatus.LAUNCHED.value, worker=None, agent_id=None).where(
                Unit.id == held.unit.id
            ).execute()
        # A pid that cannot exist on this host (above pid_max): the owner of a killed launch.
        TaskRun.update(owner=f"{socket.gethostname()}:999999999", heartbeat_at=utcnow()).where(
            TaskRun.id == dead.unit.task_run_id
        ).execute()
        TaskRun.update(owner=f"{socket.gethostname()}:{os.getpid()}", heartbeat_at=utcnow()).where(
            TaskRun.id == live.unit.task_run_id
        ).execute()
        TaskRun.update(is_completed=True).where(TaskRun.id == finished.unit.task_run_id).execute()
    cleaner = OfferedUnitsCleaner("mock", cost="nothing")
    scope = ops.scope_for(mephisto_settings, database)
    found = cleaner.find(scope)
    assert [(item.run_id, item.what) for item in found] == [
        (
            dead.unit.task_run_id,
            f"1 unit(s) of run {dead.unit.task_run_id} still offered, but no process serves the run",
        )
    ]
    assert cleaner.remove(scope, found[0]).startswith("withdrew 1 offered unit(s)")
    statuses = {u.task_run_id: u.status for u in Unit.select()}
    assert statuses == {
        dead.unit.task_run_id: "expired",
        live.unit.task_run_id: "launched",
        finished.unit.task_run_id: "launched",
    }
    assert cleaner.find(scope) == []
