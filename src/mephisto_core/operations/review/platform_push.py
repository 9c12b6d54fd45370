"""Pushing blocks and qualifications to the providers' platforms, and recording what each one did.

`ReviewActions` calls `push` before it commits the local change: a provider failure refuses the action (nothing is
recorded), a provider that cannot do it (`PlatformUnsupported`) gives a "local only" outcome, and the action goes
on. Each call runs on a small pool of its own and is given up after the provider's `call_timeout_seconds` (a hung
platform must not hang the review app's request or the command); it is tried again with backoff only when the
provider lists the method in `idempotent_calls`. `record` then stores one `platform` review record per outcome,
so `mephisto workers show` tells later what reached which platform.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from mephisto_core.abstractions import CrowdProvider
from mephisto_core.abstractions.platform_sync import PlatformOutcome
from mephisto_core.data_model import Review, ReviewKind, Worker
from mephisto_core.errors import MephistoError, ProviderError

THREADS = 4
RETRIES = 2  # further attempts of a method the provider marks idempotent
FIRST_BACKOFF_SECONDS = 0.5
# Bounded: a call that timed out keeps its thread until the platform answers, and later calls queue behind it.
_calls = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="mephisto-platform-push")


def _call(provider: CrowdProvider, method: str, *args: Any) -> None:
    """`provider.method(*args)` with the provider's timeout, retried with backoff when it is idempotent."""
    timeout = provider.call_timeout_seconds
    attempts = 1 + (RETRIES if method in provider.idempotent_calls else 0)
    for attempt in range(attempts):
        future = _calls.submit(getattr(provider, method), *args)
        try:
            future.result(timeout)
            return
        except FutureTimeout:
            error: Exception = TimeoutError(
                f"the platform did not answer within {timeout:g} s (it may still do it: look before trying again)"
            )
        except (NotImplementedError, MephistoError):
            raise  # "cannot" and a refusal are answers: trying again would get the same
        except Exception as exc:
            error = exc
        if attempt + 1 < attempts:
            time.sleep(FIRST_BACKOFF_SECONDS * 2**attempt)
    raise error


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
            _call(provider, method, *args)
        except NotImplementedError as exc:  # PlatformUnsupported, or a method the provider never implemented
            reason = str(exc) or f"provider {provider.type_name} does not implement {method}"
            outcomes.append(PlatformOutcome(provider.type_name, provider.requester_name, action, "local only", reason))
            continue
        except MephistoError as exc:
            raise ProviderError(f"provider {provider.type_name!r} refused to {action}: {exc}") from exc
        except Exception as exc:
            raise ProviderError(
                f"provider {provider.type_name!r} failed to {action}: {type(exc).__name__}: {exc}"
            ) from exc
        outcomes.append(PlatformOutcome(provider.type_name, provider.requester_name, action, "done"))
    return outcomes


def record(
    outcomes: Sequence[PlatformOutcome], worker_id: int, reviewer: str, qualification_id: int | None = None
) -> None:
    """Store one `platform` review record per outcome (call inside the action's write transaction)."""
    for outcome in outcomes:
        Review.create(
            kind=ReviewKind.PLATFORM.value,
            worker=worker_id,
            qualification=qualification_id,
            feedback=outcome.sentence(),
            reviewer=reviewer,
        )


def summary(outcomes: Sequence[PlatformOutcome]) -> str:
    """The outcomes as one text for a person (the CLI's and the review app's message)."""
    return " ".join(outcome.sentence() for outcome in outcomes)
