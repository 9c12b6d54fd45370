"""`mephisto router serve` as a real process (TLS with a certificate made here), and `probe_router` against it.

Every probe failure a researcher can meet is one sentence saying what to do: DNS, refused, untrusted certificate,
TLS to a plain router, not a router, another protocol version, wrong secret.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mephisto_core.errors import ConfigError
from mephisto_core.router.probe import probe_router
from mephisto_core.testing.processes import run_mephisto
from mephisto_core.testing.standalone_router import (
    TEST_ROUTER_SECRET,
    SelfSignedCertificate,
    StandaloneRouterProcess,
    free_port,
    make_self_signed_certificate,
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> SelfSignedCertificate:
    return make_self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_router(tmp_path_factory: pytest.TempPathFactory, certificate: SelfSignedCertificate) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("tls-router")
    router = StandaloneRouterProcess(folder / "data", folder / "router.log", certificate=certificate)
    try:
        yield router.start()
    finally:
        router.close()


@pytest.fixture
def plain_router(tmp_path: Path) -> Iterator[StandaloneRouterProcess]:
    router = StandaloneRouterProcess(tmp_path / "data", tmp_path / "router.log")
    router.start()
    try:
        yield router
    finally:
        router.close()


def _get(url: str, ca_file: Path) -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_a_tls_router_serves_its_version_and_the_no_task_page_over_https(
    tls_router: str, certificate: SelfSignedCertificate
) -> None:
    assert tls_router.startswith("https://127.0.0.1:")
    status, body = _get(tls_router + "__mephisto/version", certificate.cert)
    assert status == 200 and json.loads(body)["task"] is None and json.loads(body)["protocol"] == 2
    status, body = _get(tls_router + "?worker_id=alice", certificate.cert)
    assert status == 503 and b"No task is running here right now" in body


def test_probe_accepts_a_trusted_router_with_the_right_secret(
    tls_router: str, certificate: SelfSignedCertificate
) -> None:
    info = probe_router(tls_router, TEST_ROUTER_SECRET, ca_file=certificate.cert)
    assert info.url == tls_router and info.channel_url == tls_router.replace("https", "wss") + "_channel"
    assert info.protocol == 2 and info.task is None
    # The channel URL works as the address too.
    assert probe_router(info.channel_url, TEST_ROUTER_SECRET, ca_file=certificate.cert).url == tls_router


def test_probe_refuses_a_wrong_secret(tls_router: str, certificate: SelfSignedCertificate) -> None:
    with pytest.raises(ConfigError, match=r"^the router refused the deploy secret: use the secret it was started"):
        probe_router(tls_router, "not-the-secret-at-all", ca_file=certificate.cert)


def test_probe_refuses_a_certificate_it_does_not_trust(tls_router: str) -> None:
    with pytest.raises(ConfigError, match=r"TLS certificate of .* is not trusted .*give the CA bundle"):
        probe_router(tls_router, TEST_ROUTER_SECRET)


def test_probe_with_http_against_a_tls_router_says_to_use_https(tls_router: str) -> None:
    with pytest.raises(ConfigError, match=r"closed the connection without an answer: if the router serves TLS"):
        probe_router(tls_router.replace("https://", "http://"), TEST_ROUTER_SECRET)


def test_probe_says_when_nothing_listens_or_the_host_is_unknown() -> None:
    with pytest.raises(ConfigError, match=r"nothing listens at .* \(connection refused\): start `mephisto router"):
        probe_router(f"https://127.0.0.1:{free_port()}/", TEST_ROUTER_SECRET)
    with pytest.raises(ConfigError, match=r"cannot find the host 'no-such-router\.invalid' \(DNS lookup failed"):
        probe_router("https://no-such-router.invalid/", TEST_ROUTER_SECRET)


def test_probe_with_https_against_a_plain_router_explains_the_tls_failure(
    plain_router: StandaloneRouterProcess,
) -> None:
    assert "serving plain HTTP and WS (no --certfile)" in plain_router.output()
    https_url = plain_router.url.replace("http://", "https://")
    with pytest.raises(ConfigError, match=r"TLS handshake with .* failed .*serves plain HTTP"):
        probe_router(https_url, TEST_ROUTER_SECRET)
    assert probe_router(plain_router.url, TEST_ROUTER_SECRET).channel_url.startswith("ws://")


class _FakeRouter(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b""
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            200,
            b'{"router_version": "9.0.0", "protocol": 99, "task": null}',
            r"runs mephisto-core 9\.0\.0 \(protocol 99\)",
        ),
        (404, b"{}", r"answered HTTP 404: that address is not a mephisto router"),
        (200, b"<html>a web site</html>", r"did not answer as a mephisto router does"),
        # Every GET answers the version, the channel's upgrade request too: as a proxy that drops upgrades would.
        (200, b'{"router_version": "0.1.0", "protocol": 2, "task": null}', r"answered HTTP 200: a proxy in front"),
    ],
)
def test_probe_refuses_what_is_not_a_router_of_this_protocol(status: int, body: bytes, message: str) -> None:
    handler = type("Handler", (_FakeRouter,), {"status": status, "body": body})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(ConfigError, match=message):
            probe_router(f"http://127.0.0.1:{server.server_address[1]}/", TEST_ROUTER_SECRET)
    finally:
        server.shutdown()
        server.server_close()


def _serve(*args: str, secret: str | None, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MEPHISTO_ROUTER_SECRET"}
    if secret is not None:
        env["MEPHISTO_ROUTER_SECRET"] = secret
    return run_mephisto("router", "serve", "--port", "0", "--data-dir", str(tmp_path / "d"), *args, env=env, timeout=60)


def test_serve_refuses_to_start_without_a_strong_secret(tmp_path: Path) -> None:
    missing = _serve(secret=None, tmp_path=tmp_path)
    short = _serve(secret="short", tmp_path=tmp_path)
    on_argv = _serve("--secret", TEST_ROUTER_SECRET, secret=None, tmp_path=tmp_path)
    assert missing.returncode == 2 and "no deploy secret: set MEPHISTO_ROUTER_SECRET or pass --secret-file" in (
        missing.stderr
    )
    assert short.returncode == 2 and "has 5 characters; use at least 16" in short.stderr
    assert on_argv.returncode == 2 and "No such option '--secret'" in on_argv.stderr


def test_serve_reads_the_secret_file_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(TEST_ROUTER_SECRET + "\n")
    secret_file.chmod(0o600)
    router = StandaloneRouterProcess(
        tmp_path / "data",
        tmp_path / "router.log",
        secret="ignored-ignored-ignored",
        extra_args=["--secret-file", str(secret_file)],
    )
    router.start()
    try:
        assert probe_router(router.url, TEST_ROUTER_SECRET).task is None
        with pytest.raises(ConfigError, match="refused the deploy secret"):
            probe_router(router.url, "ignored-ignored-ignored")
        assert router.terminate() == 0
    finally:
        router.close()


def test_serve_refuses_a_certificate_it_cannot_load_and_options_that_do_not_fit(tmp_path: Path) -> None:
    broken = tmp_path / "cert.pem"
    broken.write_text("not a certificate")
    result = _serve("--certfile", str(broken), secret=TEST_ROUTER_SECRET, tmp_path=tmp_path)
    assert result.returncode == 2 and f"cannot load the TLS certificate {broken}" in result.stderr
    key_alone = _serve("--keyfile", str(broken), secret=TEST_ROUTER_SECRET, tmp_path=tmp_path)
    assert key_alone.returncode == 2 and "key '--keyfile': needs --certfile too" in key_alone.stderr
    bad_url = _serve("--public-url", "ftp://tasks.example.org/", secret=TEST_ROUTER_SECRET, tmp_path=tmp_path)
    assert bad_url.returncode == 2 and "key '--public-url': must start with https://" in bad_url.stderr


def test_the_module_entry_point_runs_the_same_serve(tmp_path: Path) -> None:
    env = {**os.environ, "MEPHISTO_ROUTER_SECRET": TEST_ROUTER_SECRET}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mephisto_core.router",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path / "d"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[-1].startswith("READY http://127.0.0.1:"), lines
        assert probe_router(lines[-1].split()[1], TEST_ROUTER_SECRET).protocol == 2
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_probe_works_when_called_on_a_thread_running_an_event_loop(
    tls_router: str, certificate: SelfSignedCertificate
) -> None:
    async def on_a_loop() -> int:
        return probe_router(tls_router, TEST_ROUTER_SECRET, ca_file=certificate.cert).protocol

    assert asyncio.run(on_a_loop()) == 2


def _wait_for(router: StandaloneRouterProcess, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in router.output():
        assert time.monotonic() < deadline, f"{text!r} not in the router's output:\n{router.output()}"
        time.sleep(0.05)


def test_sighup_reloads_a_renewed_certificate_and_keeps_the_old_one_when_the_new_files_are_bad(tmp_path: Path) -> None:
    live = make_self_signed_certificate(tmp_path / "live")
    router = StandaloneRouterProcess(tmp_path / "data", tmp_path / "router.log", certificate=live)
    router.start()
    try:
        first_ca = tmp_path / "first-ca.pem"
        first_ca.write_bytes(live.cert.read_bytes())
        renewed = make_self_signed_certificate(tmp_path / "renewed")
        shutil.copyfile(renewed.cert, live.cert)
        shutil.copyfile(renewed.key, live.key)
        assert router.proc is not None
        router.proc.send_signal(signal.SIGHUP)
        _wait_for(router, "SIGHUP: reloaded the TLS certificate")
        assert probe_router(router.url, TEST_ROUTER_SECRET, ca_file=renewed.cert).protocol == 2
        with pytest.raises(ConfigError, match="is not trusted"):
            probe_router(router.url, TEST_ROUTER_SECRET, ca_file=first_ca)

        live.key.write_text("not a key")
        router.proc.send_signal(signal.SIGHUP)
        _wait_for(router, "still serving the previous certificate")
        assert probe_router(router.url, TEST_ROUTER_SECRET, ca_file=renewed.cert).protocol == 2
    finally:
        router.close()
