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

__all__ = ["WORKER_URL", "fake", "hold", "keys_for", "make_provider", "make_run", "submit_here", "submitted_agents"]


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


def submitted_agents(
    fake: FakeProlific, database: Database, data_dir: Path, count: int, *, never_back: int = 0
) -> tuple[ProlificProvider, list[Agent]]:
    """A run of `count` units published as a study, each taken by a participant whose work was stored here and
    who went back to Prolific with the code (their submission AWAITING REVIEW), but for the last `never_back`
    (theirs stays ACTIVE). The provider and the agents, in the units' order."""
    run, units = make_run(database, count)
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, WORKER_URL)
    provider.publish_units(units, WORKER_URL, keys_for(units))
    study_id = fake.studies()[0]["id"]
    state = provider.store.load_run(run.id)
    assert state is not None
    agents = []
    for index, unit in enumerate(units):
        visit = fake.start(study_id, f"q{index:023d}")
        agent = hold(database, unit, visit.participant_id, visit.session_id)
        submit_here(database, unit, agent)
        if index < count - never_back:
            fake.complete(visit, state.codes[study_id])
        agents.append(agent)
    return provider, agents
