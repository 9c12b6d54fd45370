"""A provider's completion step (`WorkerIdentity.completion`) reaches the page in `assigned` and in `submitted`,
only for real units (never for an onboarding test), and again for a page back after it submitted.

Real operator, real router, real WebSocket pages, real SQLite; the providers below read the link like MTurk's
(`assignmentId`, `turkSubmitTo`), once identified inline and once on the provider-call threads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from socket_page import Page, run_with_operator

from mephisto_core.abstractions import CrowdProvider, PageCompletion, WorkerIdentity
from mephisto_core.data_model import Agent
from mephisto_core.hookspecs import hookimpl
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")

PLATFORM = "https://platform.example"


class CompletingProvider(CrowdProvider):
    """Links look like `?worker_id=W&assignmentId=A&turkSubmitTo=URL`; a page completes by POSTing to URL."""

    type_name: ClassVar[str] = "completion_test"
    default_requester_name: ClassVar[str | None] = "TEST_REQUESTER"
    publishes_units: ClassVar[bool] = False

    def identify_worker(self, params: Any) -> WorkerIdentity:
        assignment = params.get("assignmentId")
        completion = None
        if assignment:
            submit_to = params.get("turkSubmitTo", PLATFORM)
            completion = PageCompletion(f"{submit_to}/mturk/externalSubmit", "POST", {"assignmentId": assignment})
        return WorkerIdentity(params.get("worker_id"), provider_agent_id=assignment, completion=completion)


class LocallyCompletingProvider(CompletingProvider):
    """The same, identified inline by the worker pool (no provider-call hop)."""

    type_name: ClassVar[str] = "local_completion_test"
    identifies_workers_locally: ClassVar[bool] = True


class _Plugin:
    @hookimpl
    def mephisto_register_providers(self, register: Any) -> None:
        register(CompletingProvider)
        register(LocallyCompletingProvider)


@pytest.fixture
def completion_task(mephisto_register_plugin: Any, task_file: Any, tmp_path: Path) -> Any:
    """`completion_task(provider_type, **task_args)`: a loaded task config of the echo blueprint."""
    mephisto_register_plugin(_Plugin())

    def make(provider_type: str, **task: Any) -> Any:
        path = task_file(**task)
        path.write_text(path.read_text().replace('type = "crowd_test"', f'type = "{provider_type}"'))
        return load_task_config(path)

    return make


def link(worker: str, assignment: str) -> dict[str, str]:
    return {"worker_id": worker, "assignmentId": assignment, "turkSubmitTo": PLATFORM}


POSTED = {
    "url": f"{PLATFORM}/mturk/externalSubmit",
    "method": "POST",
    "fields": {"assignmentId": "ASG-1"},
    "label": None,
}


@pytest.mark.parametrize("provider_type", ["completion_test", "local_completion_test"])
def test_assigned_and_submitted_carry_the_completion_and_a_page_back_after_submitting_still_completes(
    database, mephisto_settings, completion_task, provider_type
):
    async def scenario(url: str) -> None:
        page = await Page.open(url)
        assigned = await page.request(type="hello", params=link("alice", "ASG-1"), token=None)
        assert assigned["type"] == "assigned" and assigned["completion"] == POSTED
        stored = await page.submit("alice-key-1", "yes", agent_id=assigned["agent_id"])
        assert stored["type"] == "submitted" and stored["completion"] == POSTED
        # The same submit again (its answer was lost): the same completion, nothing stored twice.
        again = await page.submit("alice-key-1", "yes", agent_id=assigned["agent_id"])
        assert again["type"] == "submitted" and again["completion"] == POSTED
        await page.ws.close()
        # Reloaded after it submitted: the unit, marked submitted, and still where to go.
        back = await Page.open(url)
        reloaded = await back.request(type="hello", params=link("alice", "ASG-1"), token=assigned["token"])
        assert reloaded["type"] == "assigned" and reloaded["submitted"] is True
        assert reloaded["completion"] == POSTED
        await back.ws.close()

    run_with_operator(database, mephisto_settings, completion_task(provider_type, rows=2), scenario)
    (agent,) = Agent.select()
    assert agent.outputs == {"answer": "yes"} and agent.provider_agent_id == "ASG-1"


def test_an_onboarding_test_never_completes_and_the_unit_after_it_does(database, mephisto_settings, completion_task):
    async def scenario(url: str) -> None:
        page = await Page.open(url)
        onboarding = await page.request(type="hello", params=link("bob", "ASG-1"), token=None)
        assert onboarding["is_onboarding"] is True and onboarding["completion"] is None
        passed = await page.submit("bob-onb-key-1", "yes", agent_id=onboarding["agent_id"])
        assert passed["next"] == "onboarding_passed" and passed["completion"] is None
        # The page asks for its unit (mephisto-task.js reloads without the onboarding token).
        unit = await page.request(type="hello", params=link("bob", "ASG-1"), token=None)
        assert unit["type"] == "assigned" and unit["is_onboarding"] is False and unit["completion"] == POSTED
        stored = await page.submit("bob-key-1", "an answer", agent_id=unit["agent_id"])
        assert stored["completion"] == POSTED
        await page.ws.close()

    run_with_operator(database, mephisto_settings, completion_task("completion_test", onboarding=True), scenario)


def test_links_without_a_completion_step_get_null(database, mephisto_settings, completion_task):
    async def scenario(url: str) -> None:
        page = await Page.open(url)
        assigned = await page.hello("carol", None)
        assert assigned["type"] == "assigned" and assigned["completion"] is None
        stored = await page.submit("carol-key-1", "yes", agent_id=assigned["agent_id"])
        assert stored["type"] == "submitted" and stored["completion"] is None
        await page.ws.close()

    run_with_operator(database, mephisto_settings, completion_task("completion_test"), scenario)


def test_a_completion_must_be_a_web_address():
    with pytest.raises(ValueError, match="http"):
        PageCompletion("javascript:alert(1)")
    with pytest.raises(ValueError, match="GET"):
        PageCompletion("https://x.example", "PUT")  # type: ignore[arg-type]
