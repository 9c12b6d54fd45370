"""The fake as its own process (`python -m ...fake_server`), driven over HTTP, and thread safety."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import mturk_fake_fixtures as fx
import pytest
from mephisto_provider_mturk.testing import DEFAULT_ACCESS_KEY_ID, FakeMTurk, WorkerActionRefused
from mturk_fake_fixtures import make_client, make_hit

fake, mturk = fx.fake, fx.mturk  # the shared fixtures, under their own names


class _Remote:
    """Just enough to stand in for FakeMTurk in `make_client`: the URL and the default keys."""

    def __init__(self, url: str, key: str, secret: str) -> None:
        self.endpoint_url = url
        self._kwargs = {
            "endpoint_url": url,
            "region_name": "us-east-1",
            "aws_access_key_id": key,
            "aws_secret_access_key": secret,
        }

    def client_kwargs(self) -> dict[str, str]:
        return dict(self._kwargs)

    def control(self, action: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body or {}).encode()
        request = urllib.request.Request(f"{self.endpoint_url}/_fake/{action}", data=data, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture
def remote() -> Iterator[_Remote]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mephisto_provider_mturk.testing.fake_server", "--port", "0", "--balance", "50.00"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().split() for _ in range(3)]
        assert lines[0][0] == "READY", lines
        yield _Remote(lines[0][1], lines[1][1], lines[2][1])
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_fake_server_process_serves_boto3_and_the_control_endpoints(remote: _Remote) -> None:
    client = make_client(remote)  # type: ignore[arg-type]
    assert client.get_account_balance()["AvailableBalance"] == "50.00"
    hit_id = make_hit(client, reward="1.00", auto_approval=600)["HITId"]
    status, visit = remote.control("accept", {"hitId": hit_id, "workerId": "A1REMOTE"})
    assert status == 200 and "assignmentId=" + visit["assignmentId"] in visit["url"]
    assert remote.control("accept", {"hitId": hit_id, "workerId": "A2LATE"})[0] == 409
    assert remote.control("submit", {"assignmentId": visit["assignmentId"], "answers": {"a": "b"}})[0] == 200
    assert remote.control("advance", {"seconds": 601})[0] == 200
    status, state = remote.control("state")
    assert state["assignments"][visit["assignmentId"]]["state"] == "Approved"
    assert state["balances"][DEFAULT_ACCESS_KEY_ID] == "48.80"
    assert state["hits"][hit_id]["status"] == "Reviewable"
    assert remote.control("explode")[0] == 404
    assert remote.control("accept", {"hitId": hit_id})[0] == 400


def test_concurrent_accepts_fill_each_slot_exactly_once(fake: FakeMTurk, mturk: Any) -> None:
    hit_id = make_hit(mturk, max_assignments=5)["HITId"]
    accepted: list[str] = []
    refused: list[str] = []
    barrier = threading.Barrier(20)

    def worker(number: int) -> None:
        barrier.wait()
        try:
            accepted.append(fake.accept(hit_id, f"A{number}CONCURRENT").assignment_id)
        except WorkerActionRefused as why:
            refused.append(str(why))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(accepted), len(refused)) == (5, 15)
    assert fake.hit_status(hit_id) == "Unassignable"


def test_concurrent_creates_with_one_token_make_one_hit(fake: FakeMTurk) -> None:
    results: list[str] = []
    barrier = threading.Barrier(8)

    def publish(client: Any) -> None:
        barrier.wait()
        try:
            make_hit(client, token="same-unit")
            results.append("created")
        except client.exceptions.RequestError as error:
            results.append(error.response["TurkErrorCode"])

    # Clients are thread-safe, the session that makes them is not: make them up front.
    clients = [make_client(fake) for _ in range(8)]
    threads = [threading.Thread(target=publish, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["AWS.MechanicalTurk.HitAlreadyExists"] * 7 + ["created"]
    assert len(fake.snapshot().hits) == 1
