"""Runs whose units are matched with assignments at a `FakeMTurk`: work awaiting review, each agent holding an
assignment submitted at the fake, as a finished MTurk run leaves it (for review tests and
`benchmarks/review_bulk_mturk.py`); and work in progress, each unit held by a worker at it there
(`benchmarks/mturk_sync.py`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mephisto_core.data_model import Agent, Database
from mephisto_core.testing import SubmittedRun, create_submitted_run

from .fake import FakeMTurk

_QUESTION = (
    '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
    '2006-07-14/ExternalQuestion.xsd"><ExternalURL>https://example.org/task</ExternalURL>'
    "<FrameHeight>0</FrameHeight></ExternalQuestion>"
)


def submitted_mturk_run(
    fake: FakeMTurk, database: Database, units: int, requester_name: str, workers: int | None = None, **options: Any
) -> SubmittedRun:
    """`units` submitted units of a new `mturk_sandbox` run of `requester_name` (registered for the fake's default
    account), shared among `workers` MTurk workers (one per five units by default); each unit's agent holds its own
    assignment of a one-assignment HIT, submitted at `fake`. `options` go to `create_submitted_run`."""
    run = _mturk_run(database, units, requester_name, workers, options)
    with database.write():
        for unit, (_, assignment_id) in zip(run.units, _accepted_hits(fake, run), strict=True):
            fake.submit(assignment_id, {"answer": "a sentence"})
            Agent.update(provider_agent_id=assignment_id).where(Agent.id == unit.agent_id).execute()
    return run


def held_mturk_run(
    fake: FakeMTurk, database: Database, units: int, requester_name: str, returned: int = 0, **options: Any
) -> SubmittedRun:
    """`units` units of a new `mturk_sandbox` run, each held here (assigned, its agent in task) by a worker who
    accepted the unit's own HIT at `fake` and is at it there; the first `returned` of them were returned at the
    fake since (the in-run sync's case). `options` go to `create_submitted_run`."""
    from mephisto_core.data_model import AgentStatus, Unit, UnitStatus

    run = _mturk_run(database, units, requester_name, None, options)
    with database.write():
        for index, (unit, (hit_id, assignment_id)) in enumerate(zip(run.units, _accepted_hits(fake, run), strict=True)):
            Unit.update(status=UnitStatus.ASSIGNED.value, provider_unit_id=hit_id).where(Unit.id == unit.id).execute()
            Agent.update(
                status=AgentStatus.IN_TASK.value, provider_agent_id=assignment_id, outputs=None, submitted_at=None
            ).where(Agent.id == unit.agent_id).execute()
            if index < returned:
                fake.return_assignment(assignment_id)
    return run


def _mturk_run(
    database: Database, units: int, requester_name: str, workers: int | None, options: dict[str, Any]
) -> SubmittedRun:
    names = [f"A{index:012d}SEED" for index in range(workers or max(1, units // 5))]
    options.setdefault("pay_amount", Decimal("0.50"))
    return create_submitted_run(
        database, units, provider_type="mturk_sandbox", requester_name=requester_name, workers=names, **options
    )


def _accepted_hits(fake: FakeMTurk, run: SubmittedRun) -> list[tuple[str, str]]:
    """A one-assignment HIT per unit of `run`, accepted at `fake` by the unit's worker: (HIT id, assignment id)."""
    import boto3

    client = boto3.client("mturk", **fake.client_kwargs())
    hit_type = client.create_hit_type(
        AssignmentDurationInSeconds=600,
        AutoApprovalDelayInSeconds=3 * 24 * 3600,
        Reward="0.50",
        Title="Describe the picture",
        Description="One sentence about a picture.",
    )["HITTypeId"]
    accepted = []
    for unit in run.units:
        hit = client.create_hit_with_hit_type(
            HITTypeId=hit_type, MaxAssignments=1, LifetimeInSeconds=3600, Question=_QUESTION
        )["HIT"]
        accepted.append((str(hit["HITId"]), fake.accept(hit["HITId"], str(unit.worker.name)).assignment_id))
    return accepted
