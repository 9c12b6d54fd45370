"""The run's automatic grants (onboarding, screening, gold) told to its provider, off the writer thread.

The worker pool grants on the database writer thread, which never waits on a network. `grant` stores the grant
and, when the run's provider has qualifications at its platform (its class overrides
`CrowdProvider.grant_qualification`), notes it in `ctx.platform_grants`; the submission's reply carries the noted
grants back to the event loop once the writer committed them, and `push` calls the provider through the run's
`ProviderCalls` and stores each outcome as a `platform` review record, as the researcher's own actions do. A
provider that keeps qualifications local (the mock and in-house ones) is never called and nothing is recorded:
that path costs one attribute comparison per grant.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mephisto_core.abstractions import CrowdProvider
from mephisto_core.abstractions.platform_sync import PlatformOutcome
from mephisto_core.data_model import Qualification, Review, Worker
from mephisto_core.data_model.qualifications import grant_qualification
from mephisto_core.errors import MephistoError
from mephisto_core.operations.provider_calls import ProviderCalls
from mephisto_core.operations.review import platform_push
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.run_context import RunContext

log = logging.getLogger(__name__)

#: the `reviewer` of the platform records of automatic grants
REVIEWER = "mephisto run"


@dataclass(frozen=True, slots=True)
class PlatformGrant:
    """A committed automatic grant the provider is still to be told about."""

    worker: Worker
    qualification: str
    qualification_id: int
    value: int


def tells_platform(provider: CrowdProvider) -> bool:
    """Whether the provider has its own `grant_qualification` (the default one only says it cannot)."""
    return type(provider).grant_qualification is not CrowdProvider.grant_qualification


def grant(ctx: RunContext, worker_id: int, name: str, value: int, description: str) -> None:
    """Grant `name` locally (on the writer thread) and note it for the platform when the provider has one."""
    grant_qualification(worker_id, name, value, description=description)
    ctx.platform_grants.extend(to_tell(ctx, name, {worker_id: value}).values())


def to_tell(ctx: RunContext, name: str, values: Mapping[int, int]) -> dict[int, PlatformGrant]:
    """Per worker id, the committed grant of `name` (with its value in `values`) the provider is to be told about;
    none when the provider keeps qualifications local. Two reads for any number of workers."""
    if not values or not tells_platform(ctx.provider):
        return {}
    qualification_id = int(Qualification.get(Qualification.name == name).id)
    workers = {int(w.id): w for w in Worker.select().where(Worker.id.in_(list(values)))}
    return {w: PlatformGrant(workers[w], name, qualification_id, value) for w, value in values.items()}


def take(ctx: RunContext) -> tuple[PlatformGrant, ...]:
    """The grants noted since the last `take` (by the writer job that is running)."""
    grants = tuple(ctx.platform_grants)
    ctx.platform_grants.clear()
    return grants


async def tell_provider(
    provider: CrowdProvider, calls: ProviderCalls | None, method_name: str, action: str, worker_id: int, *args: Any
) -> PlatformOutcome:
    """Call the provider's `method_name(*args)` for an action the run already took locally; never raises.

    The outcome is "done", "local only" (the platform cannot: `PlatformUnsupported`, or a method the provider never
    implemented) or "failed" (logged; the local action holds), for a `platform` review record.
    """
    try:
        if calls is None:
            raise MephistoError("the run has no provider calls")
        await calls.call(getattr(provider, method_name), *args)
        return PlatformOutcome(provider.type_name, provider.requester_name, action, "done")
    except NotImplementedError as exc:  # PlatformUnsupported: the action holds locally only
        detail = str(exc) or f"provider {provider.type_name} does not implement {method_name}"
        return PlatformOutcome(provider.type_name, provider.requester_name, action, "local only", detail)
    except Exception as exc:
        log.warning(
            "provider %s could not %s for worker %s (kept locally): %s", provider.type_name, action, worker_id, exc
        )
        detail = f"{type(exc).__name__}: {exc}"
        return PlatformOutcome(provider.type_name, provider.requester_name, action, "failed", detail)


async def push(calls: ProviderCalls, writer: DatabaseWriter, grants: Sequence[PlatformGrant]) -> None:
    """Tell the provider about committed grants and record each outcome; never raises (the run goes on)."""
    provider = calls.provider
    for item in grants:
        action = f"grant {item.qualification}={item.value}"
        outcome = await tell_provider(
            provider, calls, "grant_qualification", action, item.worker.id, item.worker, item.qualification, item.value
        )
        try:
            await record(writer, outcome, item.worker.id, item.qualification_id)
        except Exception:
            log.exception("could not record the platform outcome of %s for worker %s", action, item.worker.id)


async def record(writer: DatabaseWriter, outcome: PlatformOutcome, worker_id: int, qualification_id: int) -> None:
    """Store the `platform` record of an automatic grant's outcome, with those the writer takes in the same batch
    (`PlatformRecords`); raises what storing it raised."""
    loop = asyncio.get_running_loop()
    stored: asyncio.Future[None] = loop.create_future()

    def done(ok: bool, result: Any) -> None:
        if ok:
            stored.set_result(None)
        else:
            stored.set_exception(result)

    writer.call_grouped_then(RECORDS, (outcome, worker_id, qualification_id), done, loop)
    await stored


class PlatformRecords:
    """A `JobGroup` of the `platform` records of automatic grants: a batch's in one statement. In a study whose
    workers pass an onboarding test or a screening at a paid platform, the records come in hundreds at a run's
    opening; each was a writer job of its own, a round trip each on PostgreSQL."""

    #: one INSERT: the database is consistent after it on its own
    commits_per_statement = True
    #: a lone record is one statement either way
    alone_together = False

    def __repr__(self) -> str:
        return type(self).__name__

    def run_one(self, outcome: PlatformOutcome, worker_id: int, qualification_id: int) -> None:
        """One record."""
        platform_push.record([outcome], worker_id, REVIEWER, qualification_id)

    def run_together(self, jobs: Sequence[tuple[Any, ...]]) -> list[tuple[Any] | None]:
        """Every record of the batch in one statement."""
        Review.insert_many(
            [
                platform_push.record_row(outcome, worker_id, REVIEWER, qualification_id)
                for outcome, worker_id, qualification_id in jobs
            ]
        ).execute()
        return [(None,)] * len(jobs)


RECORDS = PlatformRecords()
