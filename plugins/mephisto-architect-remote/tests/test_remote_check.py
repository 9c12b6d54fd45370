"""`check`, `deploy` and `watch_router` of the remote architect against a real `mephisto router serve` over TLS.

The router is a real process with a certificate from a CA made for the test; the wrong-version router is a small
HTTPS server answering the version endpoint as a router of another protocol would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mephisto_architect_remote.architect import RemoteArchitect
from mephisto_architect_remote.args import RemoteArchitectArgs
from mephisto_architect_remote.testing import RouterProcess, TlsFiles, free_port, make_tls_files

from mephisto_core import __version__
from mephisto_core.errors import ConfigError

SECRET = "check-deploy-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[RouterProcess]:
    """One router for the module's read-only checks (starting one costs about a second)."""
    folder = tmp_path_factory.mktemp("router")
    process = RouterProcess(folder / "data", SECRET, tls, log_path=folder / "router.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEPHISTO_ROUTER_SECRET", SECRET)


def _architect(tmp_path: Path, url: str, **values: Any) -> RemoteArchitect:
    return RemoteArchitect(RemoteArchitectArgs(url=url, **values), tmp_path / "runs")


def test_check_passes_and_logs_url_version_and_secret_source(
    tmp_path: Path, router: RouterProcess, tls: TlsFiles, secret_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    architect = _architect(tmp_path, router.url, ca_file=tls.ca_file)
    with caplog.at_level(logging.INFO, logger="mephisto_architect_remote"):
        architect.check()
    assert architect.router_info is not None
    assert architect.router_info.router_version == __version__
    assert (
        f"router {router.url}: mephisto {__version__} (protocol 2), deploy secret from the environment variable "
        "MEPHISTO_ROUTER_SECRET accepted" in caplog.text
    )
    assert SECRET not in caplog.text


def test_a_secret_file_works_as_well(tmp_path: Path, router: RouterProcess, tls: TlsFiles) -> None:
    path = tmp_path / "router.secret"
    path.write_text(SECRET + "\n", encoding="utf-8")
    path.chmod(0o600)
    _architect(tmp_path, router.url, ca_file=tls.ca_file, secret_file=path).check()


def test_a_wrong_secret_is_refused_in_one_sentence(
    tmp_path: Path, router: RouterProcess, tls: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-the-router-secret-0123456789"
    monkeypatch.setenv("MEPHISTO_ROUTER_SECRET", wrong)
    with pytest.raises(ConfigError, match="refused the deploy secret") as caught:
        _architect(tmp_path, router.url, ca_file=tls.ca_file).check()
    assert caught.value.key == "architect.url"
    assert wrong not in str(caught.value) and SECRET not in str(caught.value)


def test_a_certificate_from_an_unknown_ca_names_ca_file(
    tmp_path: Path, router: RouterProcess, secret_env: None
) -> None:
    with pytest.raises(ConfigError, match=r"not trusted .*ca_file"):
        _architect(tmp_path, router.url).check()


def test_nothing_listening_is_said_so(tmp_path: Path, tls: TlsFiles, secret_env: None) -> None:
    with pytest.raises(ConfigError, match=r"nothing listens at .*start `mephisto router serve`"):
        _architect(tmp_path, f"https://127.0.0.1:{free_port()}/", ca_file=tls.ca_file).check()


def test_an_unknown_host_is_said_so(tmp_path: Path, secret_env: None) -> None:
    with pytest.raises(ConfigError, match="cannot find the host"):
        _architect(tmp_path, "https://no-such-host.invalid/", probe_timeout_seconds=5).check()


class _OtherVersionRouter(BaseHTTPRequestHandler):
    """Answers the version endpoint as a router of a later protocol would."""

    def do_GET(self) -> None:
        body = json.dumps({"router_version": "9.0.0", "protocol": 99, "task": None}).encode()
        self.send_response(200 if self.path == "/__mephisto/version" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # keep the test output clean


@pytest.fixture
def other_version_router(tls: TlsFiles) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OtherVersionRouter)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_router_of_another_protocol_asks_for_the_same_version(
    tmp_path: Path, other_version_router: str, tls: TlsFiles, secret_env: None
) -> None:
    with pytest.raises(ConfigError, match=r"runs mephisto-core 9\.0\.0 \(protocol 99\).*install the same"):
        _architect(tmp_path, other_version_router, ca_file=tls.ca_file).check()


def test_deploy_hands_the_operator_the_wss_channel_the_secret_and_the_ca(
    tmp_path: Path, router: RouterProcess, tls: TlsFiles, secret_env: None
) -> None:
    build = tmp_path / "build"
    build.mkdir()
    architect = _architect(tmp_path, router.url, ca_file=tls.ca_file)

    async def scenario() -> None:
        deployment = await architect.deploy(build, "operator-made-secret-not-used")
        assert deployment.worker_url == router.url
        assert deployment.channel_url == f"wss://127.0.0.1:{router.port}/_channel"
        assert deployment.channel_secret == SECRET
        assert deployment.push_build is True
        assert deployment.ca_file == tls.ca_file
        assert deployment.local_link is None
        await architect.shutdown()
        await architect.shutdown()  # twice is fine

    asyncio.run(scenario())
    # The lab's router keeps running after the run's shutdown.
    assert router.proc is not None and router.proc.poll() is None


def test_watch_router_reports_a_router_gone_longer_than_the_limit_and_not_a_short_cut(
    tmp_path: Path, tls: TlsFiles, secret_env: None
) -> None:
    process = RouterProcess(tmp_path / "data", SECRET, tls, log_path=tmp_path / "router.log")
    process.start()
    build = tmp_path / "build"
    build.mkdir()
    architect = _architect(tmp_path, process.url, ca_file=tls.ca_file, give_up_after_seconds=3)
    architect.watch_interval_s = 0.2

    async def scenario() -> str | None:
        await architect.deploy(build, "unused")
        watch = asyncio.create_task(architect.watch_router())
        await asyncio.sleep(0.5)
        await asyncio.to_thread(process.kill)
        await asyncio.sleep(1.0)  # a short cut: the router is back before the limit
        await asyncio.to_thread(process.start)
        await asyncio.sleep(0.5)
        assert not watch.done()
        await asyncio.to_thread(process.kill)  # now gone for good
        return await asyncio.wait_for(watch, 15)

    try:
        reason = asyncio.run(scenario())
    finally:
        process.stop()
    assert reason is not None
    assert reason.startswith(f"the router at {process.url} has not answered for ")
    assert "architect.give_up_after_seconds = 3" in reason


def test_watch_router_returns_none_after_shutdown(
    tmp_path: Path, router: RouterProcess, tls: TlsFiles, secret_env: None
) -> None:
    build = tmp_path / "build"
    build.mkdir()
    architect = _architect(tmp_path, router.url, ca_file=tls.ca_file)
    architect.watch_interval_s = 0.1

    async def scenario() -> str | None:
        await architect.deploy(build, "unused")
        watch = asyncio.create_task(architect.watch_router())
        await asyncio.sleep(0.3)
        await architect.shutdown()
        return await asyncio.wait_for(watch, 10)

    assert asyncio.run(scenario()) is None


def test_a_plain_http_router_works_with_a_warning(
    tmp_path: Path, secret_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    process = RouterProcess(tmp_path / "data", SECRET, None, log_path=tmp_path / "router.log")
    process.start()
    try:
        architect = _architect(tmp_path, process.url)
        with caplog.at_level(logging.WARNING, logger="mephisto_architect_remote"):
            architect.check()
        assert process.url.startswith("http://")
        assert "reached over plain http" in caplog.text
        assert not architect.serves_public_https()
    finally:
        process.stop()
