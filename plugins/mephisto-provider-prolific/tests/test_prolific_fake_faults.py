"""Failure injection, the request log and concurrent use of the fake Prolific."""

from __future__ import annotations

import re
import socket
import threading

import httpx
import prolific_fake_fixtures as fixtures
import pytest
from mephisto_provider_prolific.testing import FakeProlific, ParticipantRefused
from prolific_fake_fixtures import api_client, error_detail, published_study

# The fixtures every file of the fake's tests uses, under the names the tests take.
fake, api = fixtures.fake, fixtures.api


def test_429_with_retry_after_then_success(fake: FakeProlific, api: httpx.Client) -> None:
    fake.fail_next("GET", "users/me/", status=429, retry_after=2)
    throttled = api.get("users/me/")
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert error_detail(throttled) == "Request was throttled."
    assert api.get("users/me/").status_code == 200


def test_retry_after_is_whole_seconds_rounded_up_or_absent(fake: FakeProlific, api: httpx.Client) -> None:
    fake.fail_next("GET", "users/me/", retry_after=0.2)
    assert api.get("users/me/").headers["Retry-After"] == "1"
    fake.fail_next("GET", "users/me/", retry_after=None)
    assert "Retry-After" not in api.get("users/me/").headers


def test_server_errors_for_a_number_of_calls(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api)
    fake.fail_next("POST", "studies/*/transition/", status=503, times=2)
    for _ in range(2):
        failed = api.post(f"studies/{study['id']}/transition/", json={"action": "PAUSE"})
        assert failed.status_code == 503 and "Injected" in error_detail(failed)
    assert api.get(f"studies/{study['id']}/").json()["status"] == "ACTIVE"  # the failed calls changed nothing
    assert api.post(f"studies/{study['id']}/transition/", json={"action": "PAUSE"}).json()["status"] == "PAUSED"


def test_injection_only_hits_matching_method_and_path(fake: FakeProlific, api: httpx.Client) -> None:
    fake.fail_next("POST", "workspaces/", status=500)
    assert api.get("workspaces/").status_code == 200
    assert api.get("users/me/").status_code == 200
    assert api.post("workspaces/", json={"title": "x"}).status_code == 500


def test_regex_pattern_and_any_method(fake: FakeProlific, api: httpx.Client) -> None:
    fake.fail_next("*", re.compile(r"^users/"), status=502)
    assert api.get("users/me/").status_code == 502


def test_dropped_connection(fake: FakeProlific, api: httpx.Client) -> None:
    fake.fail_next("POST", "studies/", drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("studies/", json={})
    assert fake.studies() == []
    assert fake.requests_to("POST", "studies/")[0].injected
    assert api.get("users/me/").status_code == 200  # the client reconnects


def test_injection_arguments_are_checked(fake: FakeProlific) -> None:
    with pytest.raises(ValueError, match="times"):
        fake.fail_next("GET", "users/me/", times=0)
    with pytest.raises(ValueError, match="HTTP error"):
        fake.fail_next("GET", "users/me/", status=200)


def test_request_log_keeps_method_path_query_body_and_status(fake: FakeProlific, api: httpx.Client) -> None:
    api.post("workspaces/", json={"title": "Logged"})
    api.get("studies/", params={"state": "ACTIVE"})
    first, second = fake.requests
    assert (first.method, first.path, first.body, first.status) == ("POST", "workspaces/", {"title": "Logged"}, 201)
    assert first.authorization == f"Token {fake.api_key}"
    assert (second.path, second.query, second.status) == ("studies/", {"state": "ACTIVE"}, 200)
    assert [r.path for r in fake.requests_to("GET", "studies/*")] == ["studies/"]


def test_unopened_fake_has_no_url() -> None:
    with pytest.raises(RuntimeError, match="not serving"):
        _ = FakeProlific().base_url


def test_concurrent_participants_never_overfill_a_study(fake: FakeProlific, api: httpx.Client) -> None:
    study = published_study(api, total_available_places=5)
    started: list[str] = []
    refused: list[str] = []

    def participant() -> None:
        try:
            started.append(fake.start(study["id"], fake.new_participant_id()).submission_id)
        except ParticipantRefused as refusal:
            refused.append(str(refusal))

    def researcher() -> None:
        for _ in range(5):
            api_response = httpx.get(f"{fake.base_url}submissions/", params={"study": study["id"]}, headers=api.headers)
            assert api_response.status_code == 200

    threads = [threading.Thread(target=participant) for _ in range(20)] + [threading.Thread(target=researcher)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(started) == 5 and len(refused) == 15
    assert api.get(f"studies/{study['id']}/").json()["places_taken"] == 5


def _raw_exchange(fake: FakeProlific, request: bytes) -> bytes:
    port = int(fake.base_url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def test_chunked_body_is_refused_and_the_connection_closed(fake: FakeProlific) -> None:
    answer = _raw_exchange(
        fake,
        b"POST /api/v1/workspaces/ HTTP/1.1\r\nHost: x\r\nAuthorization: Token "
        + fake.api_key.encode()
        + b'\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n0\r\n\r\n',
    )
    assert answer.startswith(b"HTTP/1.1 411")
    with api_client(fake) as api:
        assert api.get("workspaces/").json()["meta"]["count"] == 1  # nothing was created
    assert fake.server_errors == []


def test_bad_content_length_is_400(fake: FakeProlific) -> None:
    answer = _raw_exchange(fake, b"POST /api/v1/workspaces/ HTTP/1.1\r\nHost: x\r\nContent-Length: -4\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400") and b"Content-Length" in answer
