"""Test helpers: a private CA with a certificate for 127.0.0.1, and `mephisto router serve` as a real process.

For this plugin's tests, the whole-flow tests, the benchmark and architects built on this one (ec2). Needs the
`cryptography` package (in mephisto-core's `test` extra), imported only when a certificate is made.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mephisto_architect_remote.args import DEFAULT_SECRET_ENV
from mephisto_architect_remote.liveness import RouterUnreachable, check_router_answers

READY_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA certificate clients trust, and the server's certificate chain and private key."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def make_tls_files(folder: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> TlsFiles:
    """A fresh CA and a server certificate it signed for `hosts` (IP addresses or DNS names), valid one day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mephisto test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "ca.pem", folder / "router-cert.pem", folder / "router-key.pem")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(files.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_pem)
    return files


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the router is restarted on the same one, so it is chosen here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RouterProcess:
    """`mephisto router serve` over TLS on 127.0.0.1 as a child process, which can be stopped and started again.

    The deploy secret goes through the environment, as the systemd unit and the container pass it. Everything
    the router prints goes to `log_path`.
    """

    def __init__(
        self,
        data_dir: Path,
        secret: str,
        tls: TlsFiles | None,
        *,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.secret = secret
        self.tls = tls
        self.port = port if port is not None else free_port()
        self.env = dict(os.environ if env is None else env)
        self.log_path = log_path if log_path is not None else data_dir.parent / "router.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL workers and the architect use."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/"

    def command(self) -> list[str]:
        """The argv of the router (the console script's module, run by this interpreter)."""
        argv = [sys.executable, "-m", "mephisto_core.cli", "router", "serve", "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--data-dir", str(self.data_dir), "--public-url", self.url]
        if self.tls is not None:
            argv += ["--certfile", str(self.tls.cert_file), "--keyfile", str(self.tls.key_file)]
        return argv

    def start(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Start it and wait until its version endpoint answers; AssertionError with its log if it does not."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the router process already runs")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command(),
            env={**self.env, DEFAULT_SECRET_ENV: self.secret},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                check_router_answers(self.url, ca_file=self.tls.ca_file if self.tls else None, timeout=2)
                return
            except RouterUnreachable as exc:
                if self.proc.poll() is not None:
                    raise AssertionError(f"the router exited with {self.proc.returncode}:\n{self.output()}") from None
                if time.monotonic() > deadline:
                    self.kill()
                    raise AssertionError(
                        f"the router did not answer within {timeout} s ({exc}):\n{self.output()}"
                    ) from None
            time.sleep(0.1)

    def output(self) -> str:
        """What the router printed so far (all its lives)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = STOP_GRACE_S) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; return its exit status (None if it was not running)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._close_log()
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL (no clean-up of any kind) and reap it."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._close_log()

    def _close_log(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            log.close()
