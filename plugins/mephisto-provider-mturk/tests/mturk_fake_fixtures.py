"""Fixtures and helpers for tests that drive the real boto3 client against `FakeMTurk`.

Import the fixtures into a test module (`from mturk_fake_fixtures import fake, mturk`) or into
the conftest to share them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from mephisto_provider_mturk.testing import (
    DEFAULT_ACCESS_KEY_ID,
    DEFAULT_SECRET_ACCESS_KEY,
    FakeMTurk,
)

TASK_URL = "https://tasks.example.org/task?lang=en"
# One session for all clients: it caches the loaded service model, which is most of a client's cost.
_SESSION = boto3.session.Session()


def external_question(url: str = TASK_URL, frame_height: int = 0) -> str:
    """An ExternalQuestion document as a provider sends it."""
    return (
        '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/'
        'AWSMechanicalTurkDataSchemas/2006-07-14/ExternalQuestion.xsd">'
        f"<ExternalURL>{url}</ExternalURL><FrameHeight>{frame_height}</FrameHeight>"
        "</ExternalQuestion>"
    )


def make_client(fake: FakeMTurk, retries: int = 0, mode: str = "adaptive", **kwargs: Any) -> Any:
    """A real boto3 MTurk client for the fake (botocore retry `mode`, `retries` extra attempts).

    The adaptive mode also slows the client down after a throttle; "standard" does not.
    """
    config = Config(
        retries={"mode": mode, "total_max_attempts": retries + 1},
        connect_timeout=5,
        read_timeout=10,
    )
    return _SESSION.client("mturk", config=config, **{**fake.client_kwargs(), **kwargs})


def make_hit(
    client: Any,
    *,
    max_assignments: int = 1,
    lifetime: int = 3600,
    duration: int = 600,
    reward: str = "0.50",
    auto_approval: int = 3 * 24 * 3600,
    requirements: list[dict[str, Any]] | None = None,
    token: str | None = None,
    question: str | None = None,
) -> dict[str, Any]:
    """Create a HIT type and one HIT of it; returns the HIT structure."""
    hit_type = client.create_hit_type(
        AssignmentDurationInSeconds=duration,
        AutoApprovalDelayInSeconds=auto_approval,
        Reward=reward,
        Title="Label the pictures",
        Description="Say what each picture shows.",
        Keywords="images,labels",
        QualificationRequirements=requirements or [],
    )["HITTypeId"]
    extra = {"UniqueRequestToken": token} if token else {}
    return client.create_hit_with_hit_type(
        HITTypeId=hit_type,
        MaxAssignments=max_assignments,
        LifetimeInSeconds=lifetime,
        Question=question or external_question(),
        RequesterAnnotation="unit-1",
        **extra,
    )["HIT"]  # type: ignore[no-any-return]


def raw_call(
    fake: FakeMTurk,
    operation: str,
    body: bytes | dict[str, Any],
    *,
    key: str = DEFAULT_ACCESS_KEY_ID,
    secret: str = DEFAULT_SECRET_ACCESS_KEY,
    sign: bool = True,
) -> tuple[int, dict[str, Any]]:
    """POST a signed AWS JSON 1.1 request without botocore's client-side checks."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = AWSRequest(
        method="POST",
        url=fake.endpoint_url + "/",
        data=data,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"MTurkRequesterServiceV20170117.{operation}",
        },
    )
    if sign:
        SigV4Auth(Credentials(key, secret), "mturk-requester", "us-east-1").add_auth(request)
    prepared = urllib.request.Request(request.url, data=data, headers=dict(request.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(prepared, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def fake() -> Iterator[FakeMTurk]:
    """A running fake MTurk with the default account ($10,000)."""
    with FakeMTurk() as running:
        yield running


@pytest.fixture
def mturk(fake: FakeMTurk) -> Any:
    """The real boto3 MTurk client pointed at `fake` (no retries, so failures show at once)."""
    return make_client(fake)
