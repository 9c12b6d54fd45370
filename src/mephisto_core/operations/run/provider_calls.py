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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from mephisto_core.errors import ProviderError

if TYPE_CHECKING:
    from mephisto_core.abstractions import CrowdProvider

T = TypeVar("T")
log = logging.getLogger(__name__)

THREADS = 4
RETRIES = 3  # further attempts of an idempotent call after its first failure
FIRST_BACKOFF_SECONDS = 0.5  # doubled after each failed attempt


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
            except (ProviderError, OSError, TimeoutError) as exc:
                # Errors of the platform or the network; a bug in the provider (TypeError, ...) is not retried.
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
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ProviderCallTimeout(
                f"provider {self.provider.type_name!r}: {name} did not answer within {timeout:g} s"
            ) from None
