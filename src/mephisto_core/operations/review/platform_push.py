"""Pushing blocks and qualifications to the providers' platforms, and recording what each one did.

`ReviewActions` calls `push` before it commits the local change: a provider failure refuses the action (nothing is
recorded), a provider that cannot do it (`PlatformUnsupported`) gives a "local only" outcome, and the action goes
on. Each call goes through `provider_calls.call_blocking`: given up after the provider's `call_timeout_seconds` (a
hung platform must not hang the review app's request or the command), tried again with backoff only when the
provider lists the method in `idempotent_calls`. `record` then stores one `platform` review record per outcome,
so `mephisto workers show` tells later what reached which platform.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mephisto_core.abstractions import CrowdProvider
from mephisto_core.abstractions.platform_sync import PlatformOutcome
from mephisto_core.data_model import Review, ReviewKind, Worker
from mephisto_core.errors import MephistoError, ProviderError
from mephisto_core.operations.provider_calls import ProviderCallTimeout, call_blocking


def push(
    providers: Sequence[CrowdProvider], worker: Worker, action: str, method: str, *args: Any
) -> list[PlatformOutcome]:
    """Call `method(*args)` on every provider; one outcome each ("no run yet" when there is none to call)."""
    if not providers:
        detail = f"no task of provider {worker.provider_type!r} has run yet, so there is no requester to act as"
        return [PlatformOutcome(worker.provider_type, "", action, "no run yet", detail)]
    outcomes = []
    for provider in providers:
        try:
            call_blocking(provider, method, *args)
        except Exception as exc:
            outcomes.append(_told(provider, action, method, exc))
        else:
            outcomes.append(PlatformOutcome(provider.type_name, provider.requester_name, action, "done"))
    return outcomes


def push_many(
    provider: CrowdProvider, workers: Sequence[Worker], action: str, method: str, *args: Any
) -> list[list[PlatformOutcome] | Exception]:
    """`push` of `method` to one provider for many workers, in its one call for many (`<method>_many(workers,
    *args)`); per worker, its outcome (in a list, as `push` gives) or the ProviderError that refused it."""
    try:
        answers = call_blocking(provider, f"{method}_many", workers, *args, many=len(workers))
        if len(answers) != len(workers):
            raise RuntimeError(f"{method}_many answered for {len(answers)} of {len(workers)} workers")
    except Exception as exc:
        answers = [exc] * len(workers)
    told: list[list[PlatformOutcome] | Exception] = []
    for answer in answers:
        if answer is None:
            told.append([PlatformOutcome(provider.type_name, provider.requester_name, action, "done")])
            continue
        try:
            told.append([_told(provider, action, method, answer)])
        except ProviderError as refused:
            told.append(refused)
    return told


def _told(provider: CrowdProvider, action: str, method: str, exc: Exception) -> PlatformOutcome:
    """What the provider's exception from `method` means: "local only" when it cannot do it; else it refuses the
    action (ProviderError, raised)."""
    if isinstance(exc, NotImplementedError):  # PlatformUnsupported, or a method the provider never implemented
        reason = str(exc) or f"provider {provider.type_name} does not implement {method}"
        return PlatformOutcome(provider.type_name, provider.requester_name, action, "local only", reason)
    if isinstance(exc, ProviderCallTimeout):
        raise ProviderError(f"provider {provider.type_name!r} failed to {action}: {exc}") from exc
    if isinstance(exc, MephistoError):
        raise ProviderError(f"provider {provider.type_name!r} refused to {action}: {exc}") from exc
    raise ProviderError(f"provider {provider.type_name!r} failed to {action}: {type(exc).__name__}: {exc}") from exc


def record(
    outcomes: Sequence[PlatformOutcome], worker_id: int, reviewer: str, qualification_id: int | None = None
) -> None:
    """Store one `platform` review record per outcome (call inside the action's write transaction)."""
    if outcomes:
        Review.insert_many(
            [record_row(outcome, worker_id, reviewer, qualification_id) for outcome in outcomes]
        ).execute()


def record_row(outcome: PlatformOutcome, worker_id: int, reviewer: str, qualification_id: int | None) -> dict[str, Any]:
    """The `platform` review record of one outcome, as a row for `Review.insert_many` (the columns of a worker
    change's own review record, so the two go in one statement)."""
    return {
        "kind": ReviewKind.PLATFORM.value,
        "worker": worker_id,
        "unit": None,
        "qualification": qualification_id,
        "qualification_value": None,
        "feedback": outcome.sentence(),
        "reviewer": reviewer,
    }


def summary(outcomes: Sequence[PlatformOutcome]) -> str:
    """The outcomes as one text for a person (the CLI's and the review app's message)."""
    return " ".join(outcome.sentence() for outcome in outcomes)
