"""The operator's files in deploy/ stay true to the real CLI: every flag they pass exists, ports and names agree.

There is no Docker daemon, Caddy or nginx in the test environment, so those files are read for the lines that
must match `mephisto router serve --help` and each other; the systemd unit also goes through `systemd-analyze
verify` where that exists.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from mephisto_architect_remote.args import DEFAULT_SECRET_ENV

from mephisto_core.testing.pytest_plugin import unavailable

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
README = DEPLOY.parent / "README.md"
SERVE = ["mephisto", "router", "serve"]


def _serve_help() -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mephisto_core.cli", "router", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def _flags_in_help() -> set[str]:
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", _serve_help()))


def _flags(argv: list[str]) -> list[str]:
    return [word.split("=", 1)[0] for word in argv if word.startswith("--")]


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def _dockerfile_entrypoint() -> list[str]:
    lines = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()
    [entry] = [line.removeprefix("ENTRYPOINT ") for line in lines if line.startswith("ENTRYPOINT ")]
    argv = json.loads(entry)  # exec form: a JSON array, so no shell sits between docker and the router
    assert isinstance(argv, list)
    return [str(word) for word in argv]


def _unit_exec_start() -> list[str]:
    unit = (DEPLOY / "mephisto-router.service").read_text(encoding="utf-8")
    [line] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    argv = shlex.split(line.removeprefix("ExecStart="))
    return [Path(argv[0]).name, *argv[1:]]


def _readme_serve_commands() -> list[list[str]]:
    """Every `mephisto router serve ...` command in the README's code blocks (continuation lines joined)."""
    blocks = re.findall(r"^```bash\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            if "mephisto router serve" in line:
                commands.append(shlex.split(line[line.index("mephisto router serve") :], comments=True))
    return commands


def test_every_flag_the_deploy_files_and_the_readme_pass_exists_in_router_serve_help() -> None:
    known = _flags_in_help()
    commands = {"Dockerfile": _dockerfile_entrypoint(), "systemd unit": _unit_exec_start()}
    for index, words in enumerate(_readme_serve_commands()):
        commands[f"README command {index + 1}"] = words
    assert len(commands) >= 4, "the README shows how to start the router by hand"
    for where, argv in commands.items():
        assert argv[:3] == SERVE, where
        unknown = set(_flags(argv)) - known
        assert not unknown, f"{where} passes {sorted(unknown)}, which `mephisto router serve --help` does not list"


def test_the_secret_variable_is_the_one_the_router_and_the_architect_read() -> None:
    assert DEFAULT_SECRET_ENV in _serve_help()
    unit = (DEPLOY / "mephisto-router.service").read_text(encoding="utf-8")
    assert "MEPHISTO_ROUTER_SECRET=" in unit and "EnvironmentFile=/etc/mephisto-router/secret.env" in unit
    assert DEFAULT_SECRET_ENV in (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    # The secret is never passed on a command line (other users see those in `ps`).
    for argv in (_dockerfile_entrypoint(), _unit_exec_start(), *_readme_serve_commands()):
        assert "--secret" not in argv


def test_the_proxies_forward_to_the_port_the_unit_listens_on() -> None:
    argv = _unit_exec_start()
    assert _value(argv, "--host") == "127.0.0.1", "behind a proxy the router listens on loopback only"
    upstream = f"127.0.0.1:{_value(argv, '--port')}"
    caddy = (DEPLOY / "Caddyfile").read_text(encoding="utf-8")
    assert re.search(rf"^\s*reverse_proxy {re.escape(upstream)}\b", caddy, re.M)
    nginx = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert f"proxy_pass http://{upstream};" in nginx
    # Without these an nginx in front answers the WebSocket handshake with 400 or cuts quiet sockets at 60 s.
    for line in (
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_read_timeout 1h;",
    ):
        assert line in nginx
    assert _value(_dockerfile_entrypoint(), "--port") == "8080"
    assert "EXPOSE 8080" in (DEPLOY / "Dockerfile").read_text(encoding="utf-8")


def test_the_public_url_of_the_unit_is_the_site_the_proxies_serve() -> None:
    public = _value(_unit_exec_start(), "--public-url")
    host = re.fullmatch(r"https://([^/:]+)/", public)
    assert host is not None, public
    assert re.search(rf"^{re.escape(host.group(1))} \{{", (DEPLOY / "Caddyfile").read_text(encoding="utf-8"), re.M)
    assert f"server_name {host.group(1)};" in (DEPLOY / "nginx.conf").read_text(encoding="utf-8")


def test_the_dockerfile_runs_unprivileged_and_keeps_its_data_in_a_volume() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert next(line for line in text.splitlines() if line.startswith("FROM ")) == "FROM python:3.11-slim"
    assert "\nUSER mephisto\n" in text
    data_dir = _value(_dockerfile_entrypoint(), "--data-dir")
    assert f'VOLUME ["{data_dir}"]' in text


def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        unavailable("systemd-analyze is not installed")
    mephisto = shutil.which("mephisto")
    assert mephisto is not None, "the mephisto console script is installed with mephisto-core"
    unit = (DEPLOY / "mephisto-router.service").read_text(encoding="utf-8")
    # verify checks that ExecStart's program exists and reads the EnvironmentFile: point both at this machine.
    unit = unit.replace("/opt/mephisto/bin/mephisto", mephisto)
    env_file = tmp_path / "secret.env"
    env_file.write_text(f"{DEFAULT_SECRET_ENV}=only-for-systemd-analyze-0123456789\n", encoding="utf-8")
    unit = unit.replace("EnvironmentFile=/etc/mephisto-router/secret.env", f"EnvironmentFile={env_file}")
    path = tmp_path / "mephisto-router.service"
    path.write_text(unit, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    # Unknown or misspelt keys are only warnings (exit status 0): any output about the unit fails the test.
    problems = [line for line in (done.stdout + done.stderr).splitlines() if "mephisto-router" in line]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr
