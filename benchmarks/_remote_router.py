"""`--router-mode remote-tls` of load_e2e: a standalone `mephisto router serve` over TLS on 127.0.0.1.

The router gets a certificate from a throw-away CA; the launch uses the `remote` architect with that CA as its
`ca_file`, and the load generators (spawned after `start`) trust it through SSL_CERT_FILE, as simulated workers
use the system's trust store. Needs the mephisto-architect-remote plugin and `cryptography` (test extra).
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from mephisto_architect_remote.testing import RouterProcess, make_tls_files


@dataclass
class RemoteRouter:
    """The running router, and what the launch needs to reach it."""

    process: RouterProcess

    @classmethod
    def start(cls, workdir: Path, env: dict[str, str]) -> RemoteRouter:
        """Start the router; put its deploy secret in `env` (the launch's) and trust its CA in this process's
        environment, which the spawned load generators inherit."""
        tls = make_tls_files(workdir / "tls")
        secret = secrets.token_urlsafe(32)
        env["MEPHISTO_ROUTER_SECRET"] = secret
        env["SSL_CERT_FILE"] = str(tls.ca_file)
        os.environ["SSL_CERT_FILE"] = str(tls.ca_file)
        process = RouterProcess(workdir / "router-data", secret, tls, env=env, log_path=workdir / "router.log")
        process.start()
        return cls(process)

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid

    def use_in(self, task_toml: Path) -> None:
        """Replace the task's [architect] section with the remote architect pointing at this router."""
        text = task_toml.read_text(encoding="utf-8")
        assert self.process.tls is not None
        section = (
            f'[architect]\ntype = "remote"\nurl = "{self.process.url}"\nca_file = "{self.process.tls.ca_file}"\n\n'
        )
        new, count = re.subn(r"(?ms)^\[architect\]\n.*?(?=^\[)", section, text)
        if count != 1:
            raise RuntimeError(f"{task_toml}: no [architect] section followed by another section to replace")
        task_toml.write_text(new, encoding="utf-8")

    def stop(self) -> None:
        """SIGTERM the router (SIGKILL after 10 s)."""
        self.process.stop()
