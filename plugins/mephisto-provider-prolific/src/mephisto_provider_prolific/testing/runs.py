"""Runs of the `prolific` provider set up for tests and benchmarks: units launched, places published at a
`FakeProlific`, units held here by participants at them there (`benchmarks/prolific_sync.py`, the provider's
tests)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mephisto_core.data_model import Agent, Assignment, Database, Requester, Task, TaskRun, Unit, Worker

if TYPE_CHECKING:
    from mephisto_provider_prolific.provider import ProlificProvider
    from mephisto_provider_prolific.testing.fake import FakeProlific, Visit

#: Where the runs' study URLs point (the provider is told, nothing is served there).
WORKER_URL = "https://tasks.example.org/"


def make_run(
    database: Database,
    units: int,
    *,
    reward: str = "0.50",
    qualifications: Sequence[dict[str, Any]] = (),
    task_name: str = "label-things",
) -> tuple[TaskRun, list[Unit]]:
    """A run of `units` one-unit assignments, launched, with a `[task]` section the provider reads."""
    with database.write():
        requester, _ = Requester.get_or_create(name="prolific", defaults={"provider_type": "prolific"})
        task, _ = Task.get_or_create(name=task_name, defaults={"blueprint_type": "static"})
        config = {
            "schema": 1,
            "task": {
                "name": task_name,
                "title": "Label some things",
                "description": "Say what each picture shows.",
                "reward": reward,
                "assignment_duration_seconds": 600,
                "qualifications": list(qualifications),
            },
            "provider": {"type": "prolific"},
        }
        run = TaskRun.create(
            task=task,
            requester=requester,
            blueprint_type="static",
            architect_type="local",
            provider_type="prolific",
            config=config,
        )
        made = []
        for index in range(units):
            assignment = Assignment.create(task_run=run, inputs={"index": index})
            made.append(
                Unit.create(
                    assignment=assignment,
                    task_run=run,
                    task=task,
                    unit_index=0,
                    pay_amount=Decimal(reward),
                    status="launched",
                )
            )
    return run, made


def hold(database: Database, unit: Unit, participant: str, session: str) -> Agent:
    """`participant` holds `unit` here through an in_task agent whose provider id is their session."""
    with database.write():
        worker, _ = Worker.get_or_create(provider_type="prolific", name=participant)
        agent: Agent = Agent.create(
            unit=unit,
            worker=worker,
            task_run=unit.task_run,
            assignment=unit.assignment,
            token=secrets.token_hex(8),
            provider_agent_id=session,
        )
        unit.agent_id, unit.worker, unit.status = agent.id, worker, "assigned"
        unit.save()
    return agent


def keys_for(units: Sequence[Unit]) -> dict[int, str]:
    return {unit.id: f"mephisto-key-{unit.id}-{secrets.token_hex(3)}" for unit in units}


def held_in_a_large_study(
    fake: FakeProlific, database: Database, provider: ProlificProvider, held: int, past: int
) -> tuple[TaskRun, list[Unit], list[Visit], str]:
    """A run of `held + past` units published as one study at `fake`, whose first `held` units are held here by
    participants at them there, the study having `past` approved submissions besides: (run, the held units, their
    participants' visits, the study id)."""
    run, units = make_run(database, held + past)
    provider.setup_resources(run, WORKER_URL)
    provider.publish_units(units, WORKER_URL, keys_for(units))
    state = provider.store.load_run(run.id)
    assert state is not None and state.study_id is not None
    fake.add_approved_submissions(state.study_id, past)
    visits = [fake.start(state.study_id, f"h{index:023d}") for index in range(held)]
    for unit, visit in zip(units[:held], visits, strict=True):
        hold(database, unit, visit.participant_id, visit.session_id)
    return run, [Unit.get_by_id(unit.id) for unit in units[:held]], visits, state.study_id


def submitted_in_a_study(
    fake: FakeProlific, database: Database, provider: ProlificProvider, count: int
) -> tuple[TaskRun, list[Unit]]:
    """A run of `count` units published as one study at `fake`, each unit's work stored here (unit and agent
    completed) and its participant's submission AWAITING REVIEW there, as a finished study leaves them for review."""
    run, units, visits, study_id = held_in_a_large_study(fake, database, provider, count, 0)
    code = provider.store.load_run(run.id).codes[study_id]  # type: ignore[union-attr]
    now = dt.datetime.now(dt.UTC)
    with database.write():
        for unit in units:
            stored = {"status": "completed", "outputs": {"answer": "a cat"}, "submitted_at": now}
            Agent.update(**stored).where(Agent.id == unit.agent_id).execute()
        Unit.update(status="completed").where(Unit.id.in_([unit.id for unit in units])).execute()
    for visit in visits:
        fake.complete(visit, code)
    return run, [Unit.get_by_id(unit.id) for unit in units]
