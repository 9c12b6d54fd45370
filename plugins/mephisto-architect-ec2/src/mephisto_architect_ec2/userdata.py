"""The instance's user data: a shell script that installs the router from our wheel and runs it under systemd.

The script holds no secret: it downloads the wheel and the router's EnvironmentFile (the deploy secret) from S3
through presigned URLs, and the architect deletes the secret's object as soon as the router answers. The user
data of an instance stays readable (to anyone allowed `ec2:DescribeInstanceAttribute`, and to every process on
the instance through the metadata service), so a secret written into it would stay readable for the instance's
life; a presigned URL of a deleted object is worth nothing. SSM Parameter Store would need an instance profile
and the SSM agent, two more prerequisites for the researcher to set up.

Every path is under `$MEPHISTO_ROOT` (empty on the instance) and the commands it runs can be replaced through
`MEPHISTO_PYTHON`, `MEPHISTO_SYSTEMCTL`, `MEPHISTO_VENV_ARGS` and `MEPHISTO_PIP_ARGS`, so the tests run the
script as it is on this machine, into a temporary folder.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

SERVICE_NAME = "mephisto-router.service"
INSTALL_DIR = "/opt/mephisto-router"
ENV_FILE = "/etc/mephisto-router/router.env"
STATE_DIR_NAME = "mephisto-router"  # systemd's StateDirectory: /var/lib/mephisto-router
SECRET_ENV = "MEPHISTO_ROUTER_SECRET"


@dataclass(frozen=True)
class RouterInstall:
    """What the script needs: where to fetch the wheel and the EnvironmentFile, and how to start the router."""

    wheel_url: str
    wheel_name: str
    env_file_url: str
    port: int
    public_url: str
    deployment_id: str


def environment_file(secret: str) -> str:
    """The EnvironmentFile's text (uploaded to S3, fetched by the instance into a 0600 file)."""
    if "\n" in secret or not secret:
        raise ValueError("the deploy secret must be one non-empty line")
    return f"{SECRET_ENV}={secret}\n"


def systemd_unit(install: RouterInstall) -> str:
    """The unit: the router as a throw-away user (DynamicUser), restarted when it fails, with a private state dir."""
    command = shlex.join(
        [
            f"{INSTALL_DIR}/venv/bin/mephisto",
            "router",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(install.port),
            "--public-url",
            install.public_url,
            "--data-dir",
            f"/var/lib/{STATE_DIR_NAME}",
        ]
    )
    return f"""[Unit]
Description=Mephisto router (deployment {install.deployment_id})
After=network-online.target
Wants=network-online.target

[Service]
EnvironmentFile={ENV_FILE}
Environment=MEPHISTO_DATA_DIR=/var/lib/{STATE_DIR_NAME}
ExecStart={command}
DynamicUser=yes
StateDirectory={STATE_DIR_NAME}
Restart=on-failure
RestartSec=2
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""


def _quoted(value: str, what: str) -> str:
    # Presigned URLs hold '&' and '%': single quotes keep them literal. They never hold a single quote or newline.
    if "'" in value or "\n" in value:
        raise ValueError(f"the {what} {value!r} cannot be put in the user data script")
    return f"'{value}'"


def user_data_script(install: RouterInstall) -> str:
    """The whole user data script (bash); cloud-init runs it once, as root, at the instance's first boot."""
    if "/" in install.wheel_name or not install.wheel_name.endswith(".whl"):
        raise ValueError(f"{install.wheel_name!r} is not a wheel's file name")
    unit = systemd_unit(install)
    return f"""#!/bin/bash
# Written by mephisto-architect-ec2 for deployment {install.deployment_id}: install and start the Mephisto router.
set -euo pipefail
ROOT="${{MEPHISTO_ROOT:-}}"
PYTHON="${{MEPHISTO_PYTHON:-python3}}"
SYSTEMCTL="${{MEPHISTO_SYSTEMCTL:-systemctl}}"
VENV_ARGS="${{MEPHISTO_VENV_ARGS:-}}"
PIP_ARGS="${{MEPHISTO_PIP_ARGS:-}}"
WHEEL_URL={_quoted(install.wheel_url, "wheel URL")}
WHEEL_NAME={_quoted(install.wheel_name, "wheel name")}
ENV_FILE_URL={_quoted(install.env_file_url, "EnvironmentFile URL")}

if [ -z "$ROOT" ] && {{ ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || ! command -v curl >/dev/null; }}; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv curl
fi
install -d -m 0755 "$ROOT{INSTALL_DIR}" "$ROOT/etc/systemd/system"
install -d -m 0700 "$ROOT$(dirname {ENV_FILE})"
curl -fsS --retry 8 --retry-all-errors -o "$ROOT{INSTALL_DIR}/$WHEEL_NAME" "$WHEEL_URL"
# The secret: created private, never world-readable even for a moment.
(umask 077 && curl -fsS --retry 8 --retry-all-errors -o "$ROOT{ENV_FILE}" "$ENV_FILE_URL")
chmod 0600 "$ROOT{ENV_FILE}"
"$PYTHON" -m venv $VENV_ARGS "$ROOT{INSTALL_DIR}/venv"
"$ROOT{INSTALL_DIR}/venv/bin/python" -m pip install -q --disable-pip-version-check $PIP_ARGS \\
  "$ROOT{INSTALL_DIR}/$WHEEL_NAME"
cat > "$ROOT/etc/systemd/system/{SERVICE_NAME}" <<'MEPHISTO_UNIT'
{unit}MEPHISTO_UNIT
"$SYSTEMCTL" daemon-reload
"$SYSTEMCTL" enable --now {SERVICE_NAME}
"""
