"""The local architect: runs the real router in-process or as a child process and stops it again."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from mephisto_architect_local.architect import LocalArchitect
from mephisto_architect_local.args import LocalArchitectArgs
from mephisto_architect_local.subprocess_router import RouterStartError, SubprocessRouter
from pydantic import ValidationError

from mephisto_core import plugins
from mephisto_core.abstractions import Deployment
from mephisto_core.errors import ConfigError
from mephisto_core.testing.served_pages import page_as_built

SECRET = "s3cret-for-tests"


def _architect(tmp_path: Path, **args: Any) -> LocalArchitect:
    return LocalArchitect(LocalArchitectArgs(**args), tmp_path / "run")


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


async def _fetch(url: str) -> tuple[int, bytes]:
    # urllib blocks, and the in-process router runs on this very loop: fetch from a thread.
    return await asyncio.to_thread(_get, url)


async def _serves_the_build(deployment: Deployment, build_dir: Path) -> None:
    assert deployment.worker_url.startswith("http://127.0.0.1:")
    assert deployment.worker_url.endswith("/")
    port = deployment.worker_url.rsplit(":", 1)[1].rstrip("/")
    assert deployment.channel_url == f"ws://127.0.0.1:{port}/_channel"
    status, body = await _fetch(deployment.worker_url + "?worker_id=alice")
    assert (status, page_as_built(body)) == (200, (build_dir / "index.html").read_bytes())
    status, body = await _fetch(deployment.worker_url + "mephisto-task.js")
    assert status == 200
    assert b"mephisto" in body


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_in_process_router_serves_the_build_on_a_free_port(tmp_path: Path, build_dir: Path) -> None:
    async def scenario() -> None:
        architect = _architect(tmp_path, port=0)
        deployment = await architect.deploy(build_dir, SECRET)
        try:
            await _serves_the_build(deployment, build_dir)
        finally:
            await architect.shutdown()
        with pytest.raises(urllib.error.URLError):
            await _fetch(deployment.worker_url)
        await architect.shutdown()  # a second shutdown does nothing

    asyncio.run(scenario())


def test_subprocess_router_serves_the_build_and_is_gone_after_shutdown(tmp_path: Path, build_dir: Path) -> None:
    async def scenario() -> None:
        architect = _architect(tmp_path, port=0, mode="subprocess")
        deployment = await architect.deploy(build_dir, SECRET)
        runner = architect._runner
        assert isinstance(runner, SubprocessRouter)
        pid = runner.pid
        assert pid is not None
        try:
            await _serves_the_build(deployment, build_dir)
            # The child leads its own process group, so a terminal's Ctrl-C reaches the operator only.
            assert os.getpgid(pid) == pid
        finally:
            await architect.shutdown()
        assert not _process_exists(pid)
        await architect.shutdown()

    asyncio.run(scenario())


def test_watch_reports_a_router_child_killed_with_its_pid_and_signal(tmp_path: Path, build_dir: Path) -> None:
    async def scenario() -> tuple[int, str | None]:
        architect = _architect(tmp_path, port=0, mode="subprocess")
        await architect.deploy(build_dir, SECRET)
        try:
            pid = architect._runner.pid if isinstance(architect._runner, SubprocessRouter) else None
            assert pid is not None
            watch = asyncio.create_task(architect.watch_router())
            await asyncio.sleep(0.1)
            assert not watch.done()  # a live router: nothing to report
            os.kill(pid, signal.SIGKILL)
            return pid, await asyncio.wait_for(watch, 10)
        finally:
            await architect.shutdown()

    pid, reason = asyncio.run(scenario())
    assert reason is not None
    assert reason.startswith(f"the router process (pid {pid}) was killed by signal 9 (SIGKILL)")
    assert str(build_dir.parent / "router.stderr.log") in reason  # where to look for more: the run's own folder


def test_watch_says_nothing_when_shutdown_stops_the_router(tmp_path: Path, build_dir: Path) -> None:
    async def scenario(mode: str) -> str | None:
        architect = _architect(tmp_path, port=0, mode=mode)
        await architect.deploy(build_dir, SECRET)
        watch = asyncio.create_task(architect.watch_router())
        await asyncio.sleep(0.1)
        await architect.shutdown()
        return await asyncio.wait_for(watch, 10)

    assert asyncio.run(scenario("subprocess")) is None
    assert asyncio.run(scenario("in_process")) is None


def test_router_child_exits_when_the_pipe_from_its_parent_closes(tmp_path: Path, build_dir: Path) -> None:
    # The kernel closes the pipe's write end when the parent dies however it dies; closing it here is the same
    # event without killing the test.
    async def scenario() -> str | None:
        runner = SubprocessRouter(build_dir, SECRET, "127.0.0.1", 0, 1024, tmp_path / "router.log")
        await runner.start()
        try:
            assert runner._proc is not None and runner._proc.stdin is not None
            runner._proc.stdin.close()
            return await asyncio.wait_for(runner.watch(), 5)
        finally:
            await runner.stop()

    reason = asyncio.run(scenario())
    assert reason is not None and "exited with code 0" in reason
    assert "stdin closed" in (tmp_path / "router.log").read_text()


def test_secret_is_not_on_the_child_command_line(tmp_path: Path, build_dir: Path) -> None:
    runner = SubprocessRouter(build_dir, SECRET, "127.0.0.1", 0, 1024, tmp_path / "log")
    assert SECRET not in " ".join(runner.command())


@pytest.mark.parametrize("mode", ["in_process", "subprocess"])
def test_busy_port_names_the_key_and_suggests_port_zero(
    tmp_path: Path, build_dir: Path, busy_port: int, mode: str
) -> None:
    architect = _architect(tmp_path, port=busy_port, mode=mode)
    with pytest.raises(ConfigError) as caught:
        asyncio.run(architect.deploy(build_dir, SECRET))
    assert caught.value.key == "architect.port"
    assert f"port {busy_port}" in str(caught.value)
    assert "architect.port=0" in str(caught.value)
    assert architect._runner is None


def test_router_child_that_cannot_bind_reports_the_busy_port(tmp_path: Path, build_dir: Path, busy_port: int) -> None:
    # Bypasses the architect's own check, as when another program takes the port between check and start.
    runner = SubprocessRouter(build_dir, SECRET, "127.0.0.1", busy_port, 1024, tmp_path / "router.log")
    with pytest.raises(ConfigError, match=r"architect\.port=0") as caught:
        asyncio.run(runner.start())
    assert caught.value.key == "architect.port"
    assert runner.pid is None


def test_check_reports_a_busy_port(tmp_path: Path, busy_port: int) -> None:
    with pytest.raises(ConfigError, match="already in use") as caught:
        _architect(tmp_path, port=busy_port).check()
    assert caught.value.key == "architect.port"


def test_check_accepts_port_zero_and_a_free_port(tmp_path: Path) -> None:
    _architect(tmp_path, port=0).check()
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    _architect(tmp_path, port=free).check()


def test_check_names_the_host_that_is_not_this_machine(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _architect(tmp_path, host="192.0.2.1", port=4000).check()  # TEST-NET-1: never a local address
    assert caught.value.key == "architect.host"


def test_public_url_is_what_workers_are_given(tmp_path: Path, build_dir: Path) -> None:
    async def scenario() -> Deployment:
        architect = _architect(tmp_path, port=0, public_url="https://tasks.example.org/")
        try:
            return await architect.deploy(build_dir, SECRET)
        finally:
            await architect.shutdown()

    deployment = asyncio.run(scenario())
    assert deployment.worker_url == "https://tasks.example.org/"
    assert deployment.channel_url.startswith("ws://127.0.0.1:")


def test_missing_build_dir_is_reported(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="does not exist"):
        asyncio.run(_architect(tmp_path, port=0).deploy(tmp_path / "nope", SECRET))


class _ScriptRouter(SubprocessRouter):
    """Runs a given Python script instead of the router, to exercise the start-up failure paths."""

    def __init__(self, tmp_path: Path, script: str, ready_timeout_s: float = 10.0) -> None:
        log = tmp_path / "router.log"
        super().__init__(tmp_path, SECRET, "127.0.0.1", 0, 1024, log, ready_timeout_s, stop_grace_s=1.0)
        self.script = script

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.script]


def test_child_that_dies_reports_its_stderr_tail(tmp_path: Path) -> None:
    script = "import sys; print('starting'); sys.stderr.write('Traceback: the build dir is unreadable\\n'); sys.exit(3)"
    runner = _ScriptRouter(tmp_path, script)
    with pytest.raises(RouterStartError) as caught:
        asyncio.run(runner.start())
    message = str(caught.value)
    assert "exited with code 3" in message
    assert "the build dir is unreadable" in message
    assert runner.pid is None


def test_child_that_never_gets_ready_is_killed_and_reported(tmp_path: Path) -> None:
    script = "import os, sys, time; sys.stderr.write(f'pid {os.getpid()}\\n'); sys.stderr.flush(); time.sleep(60)"
    runner = _ScriptRouter(tmp_path, script, ready_timeout_s=1.0)
    with pytest.raises(RouterStartError, match="did not report READY within 1 s") as caught:
        asyncio.run(runner.start())
    pid = int(str(caught.value).rsplit("pid ", 1)[1].split()[0])
    assert not _process_exists(pid)


def test_child_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    script = (
        "import signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('READY http://127.0.0.1:1/', flush=True); time.sleep(60)"
    )

    async def scenario() -> int:
        runner = _ScriptRouter(tmp_path, script)
        await runner.start()
        pid = runner.pid
        assert pid is not None
        await runner.stop()
        return pid

    pid = asyncio.run(scenario())
    assert not _process_exists(pid)


def test_args_reject_bad_values() -> None:
    with pytest.raises(ValidationError):
        LocalArchitectArgs(port=70000)
    with pytest.raises(ValidationError):
        LocalArchitectArgs(max_upload_mb=0)
    with pytest.raises(ValidationError, match="http:// or https://"):
        LocalArchitectArgs(public_url="tasks.example.org")
    with pytest.raises(ValidationError):
        LocalArchitectArgs(mode="docker")
    assert LocalArchitectArgs(max_upload_mb=1.5).max_upload_bytes == 1572864


def test_defaults_match_the_documented_ones() -> None:
    args = LocalArchitectArgs()
    assert (args.host, args.port, args.mode, args.max_upload_mb, args.public_url) == (
        "127.0.0.1",
        3000,
        "auto",
        50,
        None,
    )
    assert all(field.description for field in LocalArchitectArgs.model_fields.values())


def test_auto_mode_runs_the_router_in_its_own_process_only_with_two_or_more_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mephisto_architect_local import args as args_module

    monkeypatch.setattr(args_module, "usable_cpu_count", lambda: 2)
    assert LocalArchitectArgs().resolved_mode == "subprocess"
    monkeypatch.setattr(args_module, "usable_cpu_count", lambda: 1)
    assert LocalArchitectArgs().resolved_mode == "in_process"
    assert LocalArchitectArgs(mode="subprocess").resolved_mode == "subprocess"
    assert LocalArchitectArgs(mode="in_process").resolved_mode == "in_process"


def test_installed_plugin_registers_the_local_type() -> None:
    plugins.reset()
    try:
        assert plugins.get_registry().get("architect", "local") is LocalArchitect
    finally:
        plugins.reset()
