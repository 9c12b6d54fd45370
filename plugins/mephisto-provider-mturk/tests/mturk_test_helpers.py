"""Helpers of the mturk provider's tests: a FakeMTurk the provider reaches, and runs with a real task config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from mephisto_provider_mturk.args import MTurkArgs
from mephisto_provider_mturk.client import ENDPOINT_ENV
from mephisto_provider_mturk.provider import MTurkProvider, MTurkSandboxProvider
from mephisto_provider_mturk.testing import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, FakeMTurk

from mephisto_core.data_model import TaskRun

CREDENTIALS = {"access_key_id": DEFAULT_ACCESS_KEY_ID, "secret_access_key": DEFAULT_SECRET_ACCESS_KEY}
WORKER_URL = "http://127.0.0.1:9/task/?x=1"


def task_config(name: str = "describe", **task: Any) -> dict[str, Any]:
    """A run config whose `[task]` section describes a HIT type."""
    section = {
        "name": name,
        "title": "Describe a picture",
        "description": "Write two sentences.",
        "reward": "0.50",
        "tags": ["image", "writing"],
        "assignment_duration_seconds": 600,
        **task,
    }
    return {"schema": 1, "task": section, "provider": {"type": "mturk_sandbox"}}


def give_config(run: TaskRun, **task: Any) -> TaskRun:
    """Store a full task config on a run made by the core's test helpers (they store only the task name)."""
    run.config = task_config(run.config["task"]["name"], **task)
    run.save()
    return run


def make_provider(data_dir: Path, cls: type[MTurkProvider] = MTurkSandboxProvider, **args: Any) -> MTurkProvider:
    """The provider as the core builds it, with the fake's default account."""
    return cls(MTurkArgs(requester_name="lab", **args), "lab", CREDENTIALS, cls.data_dir_under(data_dir))


def link_params(url: str) -> dict[str, str]:
    """The query parameters of a page link MTurk opens."""
    return dict(parse_qsl(urlsplit(url).query))


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMTurk]:
    """A started FakeMTurk that every MTurk client of this process (and its subprocesses) reaches."""
    with FakeMTurk() as server:
        monkeypatch.setenv(ENDPOINT_ENV, server.endpoint_url)
        yield server
