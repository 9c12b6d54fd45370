"""Helpers for the provider's tests against the fake Prolific (imported by bare name)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mephisto_provider_prolific.args import ProlificArgs
from mephisto_provider_prolific.provider import ProlificProvider
from mephisto_provider_prolific.testing import FakeProlific
from mephisto_provider_prolific.testing.runs import WORKER_URL, hold, keys_for, make_run

from mephisto_core.data_model import Agent, Database, Unit

__all__ = ["WORKER_URL", "fake", "hold", "keys_for", "make_provider", "make_run", "submit_here"]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProlific]:
    """A fake Prolific the provider talks to (through the test-only MEPHISTO_PROLIFIC_* settings)."""
    with FakeProlific() as running:
        monkeypatch.setenv("MEPHISTO_PROLIFIC_API_URL", running.base_url)
        monkeypatch.setenv("MEPHISTO_PROLIFIC_COMPLETION_URL", running.completion_url)
        yield running


def make_provider(fake: FakeProlific, data_dir: Path, **args: Any) -> ProlificProvider:
    """The provider as the core builds it, with the fake's token."""
    return ProlificProvider(
        ProlificArgs(**args), "prolific", {"api_key": fake.api_key}, ProlificProvider.data_dir_under(data_dir)
    )


def submit_here(database: Database, unit: Unit, agent: Agent) -> None:
    """The agent's submission was stored here (unit and agent `completed`)."""
    with database.write():
        agent.status, agent.outputs = "completed", {"answer": "cat"}
        agent.save()
        unit.status = "completed"
        unit.save()
