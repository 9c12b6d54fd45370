"""The run's automatic grants (here onboarding) reach the provider's platform after the worker's answer, with the
outcome recorded; a slow platform delays nobody, and a provider without qualifications is never asked.

Real router, real operator, real SQLite file; the providers below record their platform calls in memory.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from socket_page import run_with_operator
from test_rules_through_router import say, submit

from mephisto_core.abstractions import CrowdProvider, WorkerIdentity
from mephisto_core.data_model import Qualification, Review, ReviewKind, Worker
from mephisto_core.data_model.qualifications import granted_value
from mephisto_core.hookspecs import hookimpl
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")


class GrantingProvider(CrowdProvider):
    """A provider whose platform has qualifications: each grant is remembered in `granted`."""

    type_name: ClassVar[str] = "grant_test"
    default_requester_name: ClassVar[str | None] = "TEST_REQUESTER"
    publishes_units: ClassVar[bool] = False
    granted: ClassVar[list[tuple[str, str, int]]] = []

    def identify_worker(self, params: Any) -> WorkerIdentity:
        return WorkerIdentity(params.get("worker_id"))

    def grant_qualification(self, worker: Worker, name: str, value: int) -> None:
        self.granted.append((worker.name, name, value))


class SlowProvider(GrantingProvider):
    """A platform that takes 3 s to grant; the run gives up waiting after 1 s."""

    type_name: ClassVar[str] = "slow_grant_test"
    call_timeout_seconds: ClassVar[float] = 1.0

    def grant_qualification(self, worker: Worker, name: str, value: int) -> None:
        threading.Event().wait(3)
        super().grant_qualification(worker, name, value)


class _Plugin:
    @hookimpl
    def mephisto_register_providers(self, register: Any) -> None:
        register(GrantingProvider)
        register(SlowProvider)


@pytest.fixture
def onboarding_task(mephisto_register_plugin: Any, task_file: Any, tmp_path: Path) -> Any:
    """`onboarding_task(provider_type)`: a loaded task config with an onboarding test answered by "yes"."""
    mephisto_register_plugin(_Plugin())
    GrantingProvider.granted.clear()
    (tmp_path / "checks.py").write_text("def onboard(outputs):\n    return outputs.get('answer') == 'yes'\n")

    def make(provider_type: str) -> Any:
        path = task_file(rows=2, onboarding=True, task_onboarding={"validator": "checks:onboard"})
        path.write_text(path.read_text().replace('type = "crowd_test"', f'type = "{provider_type}"'))
        return load_task_config(path)

    return make


def platform_records() -> list[Review]:
    return list(Review.select().where(Review.kind == ReviewKind.PLATFORM.value).order_by(Review.id))


async def until(condition: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def test_onboarding_pass_is_granted_at_the_platform_and_recorded(database, mephisto_settings, onboarding_task):
    async def scenario(url: str) -> None:
        _onboarding, passed = await say(url, "alice", submit("yes", "alice-onb-1"))
        assert passed["next"] == "onboarding_passed"
        await until(lambda: len(platform_records()) == 1)

    run_with_operator(database, mephisto_settings, onboarding_task("grant_test"), scenario)
    assert GrantingProvider.granted == [("alice", "echo-onboarding", 1)]
    (record,) = platform_records()
    assert record.worker.name == "alice" and record.reviewer == "mephisto run"
    assert record.qualification == Qualification.get(Qualification.name == "echo-onboarding")
    assert record.feedback == "grant echo-onboarding=1: done at grant_test (requester TEST_REQUESTER)."


def test_a_slow_platform_does_not_delay_the_answer_and_its_failure_is_recorded(
    database, mephisto_settings, onboarding_task
):
    async def scenario(url: str) -> None:
        started = time.monotonic()
        _onboarding, passed = await say(url, "bob", submit("yes", "bob-onb-1"))
        assert passed["next"] == "onboarding_passed" and time.monotonic() - started < 1
        await until(lambda: len(platform_records()) == 1)

    run_with_operator(database, mephisto_settings, onboarding_task("slow_grant_test"), scenario)
    (record,) = platform_records()
    assert record.feedback.startswith("grant echo-onboarding=1: failed at slow_grant_test")
    assert "did not answer within 1 s" in record.feedback
    assert granted_value(Worker.get(Worker.name == "bob"), "echo-onboarding") == 1  # kept locally


def test_a_provider_without_qualifications_is_not_asked_and_nothing_is_recorded(
    database, mephisto_settings, onboarding_task
):
    async def scenario(url: str) -> None:
        _onboarding, failed = await say(url, "carol", submit("no", "carol-onb-1"))
        assert failed["next"] == "onboarding_failed"

    run_with_operator(database, mephisto_settings, onboarding_task("crowd_test"), scenario)
    assert granted_value(Worker.get(Worker.name == "carol"), "echo-onboarding") == 0
    # Only carol's entries matter: the slow test's platform thread may still append bob's grant 3 s after it began.
    assert platform_records() == [] and [g for g in GrantingProvider.granted if g[0] == "carol"] == []
