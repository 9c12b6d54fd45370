"""ProviderCalls: every call to a crowd platform runs here, on a few threads of its own, never on the writer.

A platform that takes ten seconds to answer must not hold up the database writer thread (whose batches
acknowledge every submission) nor the event loop. The operator awaits `ProviderCalls.call`, which runs the
provider method on a small bounded pool of threads, gives up waiting after the provider's
`call_timeout_seconds`, and tries again with exponential backoff only when the provider lists the method in
`idempotent_calls` (a publish or a payment repeated blindly could happen twice). Results come back to the event
loop, which hands whatever must be stored to the writer as an ordinary job.

A call that timed out keeps its thread until the platform answers (a thread cannot be interrupted); the pool
being bounded, later calls then queue behind it instead of piling up threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from mephisto_core.data_model.kept_connections import released_after
from mephisto_core.errors import ProviderError
from mephisto_core.operations.run import metrics_hooks

if TYPE_CHECKING:
    from mephisto_core.abstractions import CrowdProvider

T = TypeVar("T")
log = logging.getLogger(__name__)

THREADS = 4
RETRIES = 3  # further attempts of an idempotent call after its first failure
FIRST_BACKOFF_SECONDS = 0.5  # doubled after each failed attempt
# Errors of the platform or the network, worth another try of an idempotent call; a refusal the provider words
# as another MephistoError, "cannot" (NotImplementedError) and a bug in the provider (TypeError, ...) are not.
RETRYABLE = (ProviderError, OSError, TimeoutError)


class ProviderCallTimeout(ProviderError):
    """A platform call did not answer within the provider's `call_timeout_seconds`."""


class ProviderCalls:
    """Runs one provider's methods off the event loop and off the writer thread, with timeouts and retries."""

    def __init__(
        self,
        provider: CrowdProvider,
        threads: int = THREADS,
        retries: int = RETRIES,
        first_backoff: float = FIRST_BACKOFF_SECONDS,
    ) -> None:
        self.provider = provider
        self.retries = retries
        self.first_backoff = first_backoff
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mephisto-provider")

    def close(self) -> None:
        """Stop taking calls; a call still running at the platform is not waited for (its thread is a daemon's
        in effect: the process may exit under it)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def call(self, method: Callable[..., T], *args: Any) -> T:
        """`method(*args)` (a bound method of the provider) on the provider threads; its result or its error.

        Raises ProviderCallTimeout when it did not answer in time, after the retries an idempotent method gets.
        """
        name = getattr(method, "__name__", repr(method))
        idempotent = name in self.provider.idempotent_calls
        attempts = 1 + (self.retries if idempotent else 0)
        delay = self.first_backoff
        for attempt in range(1, attempts + 1):
            try:
                return await self._once(name, method, *args)
            except RETRYABLE as exc:
                if attempt == attempts:
                    raise
                log.warning(
                    "provider %s: %s failed (%s); trying again in %.1f s (attempt %d of %d)",
                    self.provider.type_name,
                    name,
                    exc,
                    delay,
                    attempt + 1,
                    attempts,
                )
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _once(self, name: str, method: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, method, *args)
        timeout = self.provider.call_timeout_seconds
        started, failed = time.monotonic(), True
        try:
            result = await asyncio.wait_for(future, timeout)
            failed = False
            return result
        except TimeoutError:
            raise ProviderCallTimeout(
                f"provider {self.provider.type_name!r}: {name} did not answer within {timeout:g} s"
            ) from None
        except NotImplementedError:  # PlatformUnsupported: an answer, not a failure of the platform
            failed = False
            raise
        finally:
            metrics_hooks.observe_provider_call(name, time.monotonic() - started, failed)


#: Review calls in flight at once: a bulk verdict asks the platform for this many units at a time
#: (`recorded_calls.call_all`), about this many times faster than one after the other.
REVIEW_CALLS_AT_ONCE = 8
# Review actions (approve, bonus, block, qualify) run in a command or a review-app request, not on an event loop:
# they wait for the platform in their own thread, through this bounded pool so that a hung call is given up.
_blocking_pool = ThreadPoolExecutor(max_workers=REVIEW_CALLS_AT_ONCE, thread_name_prefix="mephisto-provider-review")


def call_blocking(provider: CrowdProvider, method_name: str, *args: Any, many: int = 1) -> Any:
    """`provider.method_name(*args)` for a synchronous caller, with `ProviderCalls.call`'s rules: given up after
    the provider's `call_timeout_seconds` (ProviderCallTimeout), retried with backoff only when the method is
    in `idempotent_calls` and failed with a platform or network error. A call for `many` units or workers at once
    (`CrowdProvider.calls_for_many`) is given as long as they would take one by one, REVIEW_CALLS_AT_ONCE at a
    time: given up sooner, it would go on in the background while the reviewer is told it failed."""
    method = getattr(provider, method_name)
    timeout = provider.call_timeout_seconds * max(1, -(-many // REVIEW_CALLS_AT_ONCE))
    attempts = 1 + (RETRIES if method_name in provider.idempotent_calls else 0)
    delay = FIRST_BACKOFF_SECONDS
    for attempt in range(1, attempts + 1):
        future = _blocking_pool.submit(released_after, method, *args)
        try:
            return future.result(timeout)
        except RETRYABLE as exc:
            error: Exception = exc
            if not future.done():  # our wait ran out, not the provider's own TimeoutError
                error = ProviderCallTimeout(
                    f"provider {provider.type_name!r}: {method_name} did not answer within {timeout:g} s "
                    "(it may still do it: look before trying again)"
                )
        if attempt == attempts:
            raise error
        log.warning(
            "provider %s: %s failed (%s); trying again in %.1f s (attempt %d of %d)",
            provider.type_name,
            method_name,
            error,
            delay,
            attempt + 1,
            attempts,
        )
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable: the last attempt returns or raises")
