"""Work awaiting review at a `FakeMTurk`: a run whose units were all submitted, each agent holding an assignment
submitted at the fake, as a finished MTurk run leaves them (for review tests and `benchmarks/review_bulk_mturk.py`)."""

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
    import boto3

    client = boto3.client("mturk", **fake.client_kwargs())
    hit_type = client.create_hit_type(
        AssignmentDurationInSeconds=600,
        AutoApprovalDelayInSeconds=3 * 24 * 3600,
        Reward="0.50",
        Title="Describe the picture",
        Description="One sentence about a picture.",
    )["HITTypeId"]
    names = [f"A{index:012d}SEED" for index in range(workers or max(1, units // 5))]
    options.setdefault("pay_amount", Decimal("0.50"))
    run = create_submitted_run(
        database, units, provider_type="mturk_sandbox", requester_name=requester_name, workers=names, **options
    )
    with database.write():
        for unit in run.units:
            hit = client.create_hit_with_hit_type(
                HITTypeId=hit_type, MaxAssignments=1, LifetimeInSeconds=3600, Question=_QUESTION
            )["HIT"]
            visit = fake.accept(hit["HITId"], str(unit.worker.name))
            fake.submit(visit.assignment_id, {"answer": "a sentence"})
            Agent.update(provider_agent_id=visit.assignment_id).where(Agent.id == unit.agent_id).execute()
    return run
