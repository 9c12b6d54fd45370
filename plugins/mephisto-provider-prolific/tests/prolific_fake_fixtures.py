"""Helpers shared by the fake Prolific's tests (imported by bare name; fixtures live in each test file)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mephisto_provider_prolific.testing import FakeProlific

STUDY_URL = "https://task.example.org/run?pid={{%PROLIFIC_PID%}}&study={{%STUDY_ID%}}&session={{%SESSION_ID%}}"
CODE = "C0DE1234"
LONG_REASON = "The answers were copied from another submission word for word, which the instructions forbid. " * 2


def study_body(**overrides: Any) -> dict[str, Any]:
    """A valid draft study, as the provider would send it."""
    body: dict[str, Any] = {
        "name": "Label some images",
        "internal_name": "run-1",
        "description": "Say what is in each picture.",
        "external_study_url": STUDY_URL,
        "prolific_id_option": "url_parameters",
        "completion_codes": [{"code": CODE, "code_type": "COMPLETED", "actions": [{"action": "MANUALLY_REVIEW"}]}],
        "estimated_completion_time": 5,
        "reward": 150,
        "total_available_places": 3,
        "device_compatibility": ["desktop"],
        "filters": [],
    }
    body.update(overrides)
    return body


def api_client(fake: FakeProlific, token: str | None = None) -> httpx.Client:
    """The real httpx client pointed at the fake, as the provider builds it."""
    return httpx.Client(base_url=fake.base_url, headers={"Authorization": f"Token {token or fake.api_key}"}, timeout=10)


def create_study(api: httpx.Client, **overrides: Any) -> dict[str, Any]:
    response = api.post("studies/", json=study_body(**overrides))
    assert response.status_code == 201, response.text
    study: dict[str, Any] = response.json()
    return study


def published_study(api: httpx.Client, **overrides: Any) -> dict[str, Any]:
    study = create_study(api, **overrides)
    response = api.post(f"studies/{study['id']}/transition/", json={"action": "PUBLISH"})
    assert response.status_code == 200, response.text
    published: dict[str, Any] = response.json()
    return published


def error_detail(response: httpx.Response) -> Any:
    """The `detail` of Prolific's error body (and a check that the body has Prolific's shape)."""
    error = response.json()["error"]
    assert error["status"] == response.status_code
    assert {"error_code", "title", "detail", "additional_information"} <= set(error)
    return error["detail"]


@pytest.fixture
def fake() -> Iterator[FakeProlific]:
    """A fake Prolific for one test; the test fails if the fake itself crashed on a request."""
    with FakeProlific() as running:
        yield running
    assert running.server_errors == []


@pytest.fixture
def api(fake: FakeProlific) -> Iterator[httpx.Client]:
    """An httpx client with the fake's default token."""
    with api_client(fake) as client:
        yield client
