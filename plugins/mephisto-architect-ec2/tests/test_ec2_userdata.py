"""The user data script: what it must contain, and its install part run for real on this machine into a temporary
root, fetching the wheel and the EnvironmentFile through presigned URLs of a moto S3 server on 127.0.0.1; then the
router started exactly as the systemd unit's ExecStart says (paths moved into the root) answers the probe."""

from __future__ import annotations

import os
import shlex
import shutil
import site
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ec2_world import BUCKET, REGION
from mephisto_architect_ec2.args import Ec2ArchitectArgs
from mephisto_architect_ec2.aws import AwsClients, AwsTarget
from mephisto_architect_ec2.provision import Provisioner
from mephisto_architect_ec2.records import DeploymentRecord
from mephisto_architect_ec2.userdata import RouterInstall, environment_file, systemd_unit, user_data_script

from mephisto_core.testing.pytest_plugin import unavailable

INSTALL = RouterInstall(
    wheel_url="https://bucket.s3.amazonaws.com/k/mephisto_core-0.1.0-py3-none-any.whl?X-Amz-Signature=ab&X-Amz-Expires=900",
    wheel_name="mephisto_core-0.1.0-py3-none-any.whl",
    env_file_url="https://bucket.s3.amazonaws.com/k/router.env?X-Amz-Signature=cd",
    port=8080,
    public_url="https://my-task.tasks.example.org/",
    deployment_id="r7-0a1b2c3d",
)


def test_script_fetches_through_presigned_urls_and_holds_no_secret() -> None:
    script = user_data_script(INSTALL)
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    assert f"WHEEL_URL='{INSTALL.wheel_url}'" in script  # quoted: '&' stays literal
    assert f"ENV_FILE_URL='{INSTALL.env_file_url}'" in script
    assert "(umask 077 && curl" in script and 'chmod 0600 "$ROOT/etc/mephisto-router/router.env"' in script
    assert '"$SYSTEMCTL" enable --now mephisto-router.service' in script
    assert "MEPHISTO_ROUTER_SECRET" not in script.split("MEPHISTO_UNIT")[0]
    assert len(script.encode()) < 16 * 1024  # EC2's limit on user data
    checked = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_unit_runs_the_router_as_a_dynamic_user_with_the_environment_file() -> None:
    unit = systemd_unit(INSTALL)
    assert "EnvironmentFile=/etc/mephisto-router/router.env" in unit
    assert "DynamicUser=yes" in unit and "StateDirectory=mephisto-router" in unit and "Restart=on-failure" in unit
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert shlex.split(exec_start.removeprefix("ExecStart=")) == [
        "/opt/mephisto-router/venv/bin/mephisto",
        "router",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8080",
        "--public-url",
        "https://my-task.tasks.example.org/",
        "--data-dir",
        "/var/lib/mephisto-router",
    ]


def test_values_that_would_break_the_script_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot be put in the user data script"):
        user_data_script(RouterInstall(**{**INSTALL.__dict__, "wheel_url": "https://x/'; rm -rf /; '"}))
    with pytest.raises(ValueError, match="is not a wheel's file name"):
        user_data_script(RouterInstall(**{**INSTALL.__dict__, "wheel_name": "../evil.whl"}))
    with pytest.raises(ValueError, match="one non-empty line"):
        environment_file("two\nlines")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_install_part_runs_and_the_unit_starts_a_router_that_answers(
    server_world: object, moto_server: str, tmp_path: Path, core_wheel: Path
) -> None:
    from mephisto_core.router.probe import probe_router

    missing = [tool for tool in ("bash", "curl") if shutil.which(tool) is None]
    if missing:
        unavailable(f"the user data script runs under bash and fetches with curl: install {' and '.join(missing)}")

    world = server_world
    args = Ec2ArchitectArgs(**world.architect_section(endpoint_url=moto_server))  # type: ignore[attr-defined]
    data_dir = tmp_path / "data"
    record = DeploymentRecord("r7-0a1b2c3d", 7, "my-task", "test", {"region": REGION}, BUCKET, args.listener_arn)
    clients = AwsClients(AwsTarget(REGION, None, moto_server))
    secret = "s3cr3t-for-the-router-0123456789"
    install = Provisioner(clients, args, data_dir, record).upload(core_wheel, secret, expires_s=600)
    assert install.wheel_url.startswith(moto_server)

    root = tmp_path / "root"
    calls = tmp_path / "systemctl-calls"
    fake_systemctl = tmp_path / "systemctl"
    fake_systemctl.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n', encoding="utf-8")
    fake_systemctl.chmod(0o755)
    script = tmp_path / "user-data.sh"
    script.write_text(user_data_script(install), encoding="utf-8")
    env = {
        **os.environ,
        "MEPHISTO_ROOT": str(root),
        "MEPHISTO_PYTHON": sys.executable,
        "MEPHISTO_SYSTEMCTL": str(fake_systemctl),
        # Offline here: the venv sees this one's packages, and pip installs only our wheel.
        "MEPHISTO_VENV_ARGS": "--system-site-packages --without-pip",
        "MEPHISTO_PIP_ARGS": "--no-deps --no-index",
    }
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0 and "No module named pip" in done.stderr:
        pytest.fail("the venv has no pip: " + done.stderr)
    assert done.returncode == 0, done.stderr

    env_file = root / "etc/mephisto-router/router.env"
    assert env_file.read_text() == f"MEPHISTO_ROUTER_SECRET={secret}\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(env_file.parent.stat().st_mode) == 0o700
    assert (root / "opt/mephisto-router" / core_wheel.name).read_bytes() == core_wheel.read_bytes()
    unit = (root / "etc/systemd/system/mephisto-router.service").read_text()
    assert unit == systemd_unit(install)
    assert calls.read_text().splitlines() == ["daemon-reload", "enable --now mephisto-router.service"]

    # Start the router as systemd would: ExecStart's command, the EnvironmentFile's variables.
    exec_start = shlex.split(
        next(x for x in unit.splitlines() if x.startswith("ExecStart=")).removeprefix("ExecStart=")
    )
    command = [str(root) + exec_start[0], *exec_start[1:]]
    port = _free_port()
    command[command.index("0.0.0.0")] = "127.0.0.1"
    command[command.index("8080")] = str(port)
    command[command.index("/var/lib/mephisto-router")] = str(tmp_path / "state")
    router_env = {k: v for k, v in os.environ.items() if not k.startswith("MEPHISTO_")}
    key, _, value = env_file.read_text().strip().partition("=")
    router_env[key] = value
    router_env["MEPHISTO_DATA_DIR"] = str(tmp_path / "state")
    # The instance's pip would fetch the wheel's dependencies; here they come from this venv (its .pth files,
    # among them the editable mephisto-core, are not read from PYTHONPATH, so the wheel's copy is the one used).
    router_env["PYTHONPATH"] = os.pathsep.join(site.getsitepackages())
    venv_python = str(root / "opt/mephisto-router/venv/bin/python")
    where = subprocess.run(
        [venv_python, "-c", "import mephisto_core; print(mephisto_core.__file__)"],
        env=router_env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(root / "opt/mephisto-router/venv/")), where
    process = subprocess.Popen(command, env=router_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                info = probe_router(f"http://127.0.0.1:{port}/", secret, timeout=5)
                break
            except Exception:
                if process.poll() is not None:
                    pytest.fail(f"the router exited with {process.returncode}: {process.communicate()[0]}")
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        assert info.protocol >= 1
    finally:
        process.terminate()
        process.wait(timeout=10)
