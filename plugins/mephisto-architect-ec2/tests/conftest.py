"""Fixtures of the ec2 architect's tests: fake AWS credentials, moto (in-process or as a server on 127.0.0.1),
the researcher's one-time setup in it, and a wheel of mephisto-core. Helper modules are imported by bare name."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from ec2_world import World, build_world


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials moto accepts, and no real AWS configuration of this machine's user."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    # moto's default public AMIs take seconds to load per account; the tests register the one they use.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def world() -> Iterator[World]:
    """moto in this process (every boto3 call is answered by it), with the researcher's setup made."""
    from moto import mock_aws

    with mock_aws():
        yield build_world()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (for a `mephisto` process of its own); its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        yield endpoint
    finally:
        # moto's accounts live in this process, not in the server: empty them for the next test.
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()
        server.stop()


@pytest.fixture
def server_world(moto_server: str) -> World:
    """The researcher's setup in the moto server."""
    return build_world(moto_server)


@pytest.fixture(scope="session")
def core_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A mephisto-core wheel built from this checkout (once per session)."""
    from mephisto_architect_ec2.wheel import build_core_wheel

    return build_core_wheel(tmp_path_factory.mktemp("wheel"))
