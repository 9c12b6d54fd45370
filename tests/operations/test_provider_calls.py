"""ProviderCalls: timeouts, and retries with backoff for the methods a provider declares idempotent only."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from mephisto_core.abstractions import CrowdProvider, WorkerIdentity
from mephisto_core.abstractions.provider import ProviderArgs
from mephisto_core.errors import ProviderError
from mephisto_core.operations.provider_calls import ProviderCalls, ProviderCallTimeout, call_blocking


class FlakyProvider(CrowdProvider):
    """Fails the first `failures` calls of each method with a platform error."""

    type_name = "flaky_test"
    call_timeout_seconds: ClassVar[float] = 0.5

    def __init__(self, failures: int) -> None:
        super().__init__(ProviderArgs(), "R", {}, Path("."))
        self.failures = failures
        self.attempts: dict[str, int] = {}
        self.threads: set[str] = set()

    def _attempt(self, method: str) -> None:
        self.threads.add(threading.current_thread().name)
        self.attempts[method] = self.attempts.get(method, 0) + 1
        if self.attempts[method] <= self.failures:
            raise ProviderError(f"{method}: the platform answered 503")

    def identify_worker(self, params: Mapping[str, str]) -> WorkerIdentity:
        self._attempt("identify_worker")
        return WorkerIdentity(params["worker_id"])

    def expire_units(self, units: object) -> None:
        self._attempt("expire_units")

    def find_published(self, idempotency_key: str) -> str | None:
        time.sleep(2)  # longer than call_timeout_seconds
        return None


def _run(calls: ProviderCalls, coro_fn: object) -> object:
    async def go() -> object:
        try:
            return await coro_fn()  # type: ignore[operator]
        finally:
            calls.close()

    return asyncio.run(go())


def test_an_idempotent_call_is_tried_again_with_backoff_until_it_succeeds() -> None:
    provider = FlakyProvider(failures=2)
    calls = ProviderCalls(provider, first_backoff=0.01)
    identity = _run(calls, lambda: calls.call(provider.identify_worker, {"worker_id": "ann"}))
    assert identity == WorkerIdentity("ann") and provider.attempts["identify_worker"] == 3
    assert all(name.startswith("mephisto-provider") for name in provider.threads)  # never the caller's thread


def test_a_call_not_declared_idempotent_is_made_once_and_its_error_reaches_the_caller() -> None:
    provider = FlakyProvider(failures=1)
    calls = ProviderCalls(provider, first_backoff=0.01)
    with pytest.raises(ProviderError, match="503"):
        _run(calls, lambda: calls.call(provider.expire_units, []))
    assert provider.attempts["expire_units"] == 1


def test_a_provider_that_declares_expire_units_idempotent_gets_it_retried() -> None:
    provider = FlakyProvider(failures=1)
    provider.idempotent_calls = frozenset({*CrowdProvider.idempotent_calls, "expire_units"})  # type: ignore[misc]
    calls = ProviderCalls(provider, first_backoff=0.01)
    _run(calls, lambda: calls.call(provider.expire_units, []))
    assert provider.attempts["expire_units"] == 2


def test_a_call_past_its_timeout_is_reported_with_the_provider_and_method(caplog: pytest.LogCaptureFixture) -> None:
    provider = FlakyProvider(failures=0)
    calls = ProviderCalls(provider, retries=1, first_backoff=0.01)
    started = time.monotonic()
    with pytest.raises(ProviderCallTimeout, match=r"'flaky_test': find_published did not answer within 0.5 s"):
        _run(calls, lambda: calls.call(provider.find_published, "k"))
    assert time.monotonic() - started < 1.9  # two attempts of 0.5 s, not the platform's 2 s each
    assert "trying again" in caplog.text


def test_a_review_action_waits_in_its_own_thread_with_the_same_timeout_and_retry_rules() -> None:
    """`call_blocking` (approve, bonus, block, qualify from a command or the review app) gives a hung platform up
    after `call_timeout_seconds`, retries an idempotent call after a platform error, and never retries the rest."""
    flaky = FlakyProvider(failures=1)
    flaky.idempotent_calls = frozenset({"expire_units"})  # type: ignore[misc]
    assert call_blocking(flaky, "expire_units", []) is None
    assert flaky.attempts["expire_units"] == 2
    assert all(name.startswith("mephisto-provider-review") for name in flaky.threads)
    with pytest.raises(ProviderError, match="503"):
        call_blocking(flaky, "identify_worker", {"worker_id": "w"})  # not idempotent: one attempt only
    assert flaky.attempts["identify_worker"] == 1
    started = time.monotonic()
    with pytest.raises(ProviderCallTimeout, match=r"find_published did not answer within 0.5 s"):
        call_blocking(flaky, "find_published", "key-1")
    assert time.monotonic() - started < 1.5  # given up at 0.5 s, not the platform's 2 s
