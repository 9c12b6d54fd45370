"""Test helpers for standalone routers: a self-signed certificate, and `mephisto router serve` as a child process.

For the core's tests and for architect plugins (`remote`, `ec2`) that need a real router over TLS on 127.0.0.1.
`cryptography` (in the `test` extra) is imported only when a certificate is made.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mephisto_core.testing.processes import mephisto_command

#: A deploy secret long enough for `mephisto router serve`.
TEST_ROUTER_SECRET = "test-deploy-secret-0123456789abcdef"


@dataclass(frozen=True)
class SelfSignedCertificate:
    """A self-signed certificate (it is its own CA: trust `cert` as `ca_file`) and its private key, both PEM."""

    cert: Path
    key: Path


def make_self_signed_certificate(
    folder: Path, hosts: Iterable[str] = ("127.0.0.1", "localhost")
) -> SelfSignedCertificate:
    """Write a self-signed certificate for `hosts` (IP addresses or DNS names), valid for a day, into `folder`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mephisto test router")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "router-cert.pem", folder / "router-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return SelfSignedCertificate(cert_path, key_path)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class StandaloneRouterProcess:
    """`mephisto router serve` on 127.0.0.1 as a child process; its output goes to `log`.

    `start()` waits for its READY line. `kill()` is kill -9; `restart()` starts it again on the same port and data
    dir (what a crashed router's supervisor does).
    """

    def __init__(
        self,
        data_dir: Path,
        log: Path,
        *,
        secret: str = TEST_ROUTER_SECRET,
        certificate: SelfSignedCertificate | None = None,
        port: int = 0,
        extra_args: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.log_path = log
        self.secret = secret
        self.certificate = certificate
        self.port = port
        self.extra_args = list(extra_args)
        self.env = dict(env if env is not None else os.environ)
        self.url = ""
        self.proc: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._log_start = 0

    @property
    def channel_url(self) -> str:
        """The router's channel URL (after `start`)."""
        scheme = "wss" if self.url.startswith("https://") else "ws"
        return f"{scheme}://127.0.0.1:{self.port}/_channel"

    def command(self) -> list[str]:
        """The command line (the secret goes through the environment)."""
        args = ["router", "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        if self.certificate is not None:
            args += ["--certfile", str(self.certificate.cert), "--keyfile", str(self.certificate.key)]
        return mephisto_command(*args, *self.extra_args)

    def output(self) -> str:
        """Everything the process (and its earlier runs) printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 30) -> str:
        """Start and wait for ``READY <url>``; return the URL (the port is then fixed for restarts)."""
        if self._log is None:
            self._log = self.log_path.open("a", encoding="utf-8")
        self._log_start = len(self.output())
        self.proc = subprocess.Popen(
            self.command(),
            env={**self.env, "MEPHISTO_ROUTER_SECRET": self.secret},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.output()[self._log_start :].splitlines():
                if line.startswith("READY "):
                    self.url = line.split(" ", 1)[1].strip()
                    self.port = int(self.url.rstrip("/").rsplit(":", 1)[1])
                    return self.url
            if self.proc.poll() is not None:
                raise AssertionError(f"the router exited with {self.proc.returncode}:\n{self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"the router printed no READY line within {timeout} s:\n{self.output()}")

    def kill(self) -> None:
        """kill -9, and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self, timeout: float = 10) -> int:
        """SIGTERM and wait; the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def restart(self, timeout: float = 30) -> str:
        """kill -9 (if running) and start again on the same port and data dir."""
        self.kill()
        return self.start(timeout)

    def close(self) -> None:
        """Stop the process (kill -9 if SIGTERM is not enough) and close the log."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.terminate(5)
            self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None
