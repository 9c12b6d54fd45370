"""Qualifications and blocks reach the provider's platform, and say so when the platform cannot take them.

A test provider whose "platform" is a JSON-lines file in its data folder takes grants, revokes and (per-task)
blocks; the `crowd_test` provider (no such methods) shows the "local only" path. Real CLI, real SQLite file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest

from mephisto_core.abstractions import CrowdProvider, WorkerIdentity
from mephisto_core.abstractions.platform_sync import RequirementMapping
from mephisto_core.abstractions.task_args import QualificationRequirement
from mephisto_core.data_model import Review, Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, granted_value
from mephisto_core.hookspecs import hookimpl
from mephisto_core.plugins import get_registry
from mephisto_core.settings import Settings

PLATFORM_FILE = "platform.jsonl"


class SyncingProvider(CrowdProvider):
    """A provider whose platform keeps qualifications and blocks: each call is one line of its platform file."""

    type_name: ClassVar[str] = "sync_test"
    default_requester_name: ClassVar[str | None] = "SYNC_REQUESTER"
    publishes_units: ClassVar[bool] = False

    def identify_worker(self, params: Any) -> WorkerIdentity:
        return WorkerIdentity(params.get("worker_id"))

    def _platform(self, **entry: Any) -> None:
        if entry.get("name") == "explodes":
            raise ConnectionError("the platform hung up")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / PLATFORM_FILE).open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    def grant_qualification(self, worker: Worker, name: str, value: int) -> None:
        self._platform(call="grant", worker=worker.name, name=name, value=value)

    def revoke_qualification(self, worker: Worker, name: str) -> None:
        self._platform(call="revoke", worker=worker.name, name=name)

    def block_worker(self, worker: Worker, reason: str) -> None:
        self._platform(call="block", worker=worker.name, reason=reason)

    def unblock_worker(self, worker: Worker) -> None:
        self._platform(call="unblock", worker=worker.name)

    def block_worker_for_task(self, worker: Worker, task_name: str, reason: str) -> None:
        self._platform(call="block_task", worker=worker.name, task=task_name, reason=reason)

    def unblock_worker_for_task(self, worker: Worker, task_name: str) -> None:
        self._platform(call="unblock_task", worker=worker.name, task=task_name)

    def platform_requirements(self, requirements: Sequence[QualificationRequirement]) -> RequirementMapping:
        mapping = RequirementMapping()
        for requirement in requirements:
            if requirement.comparator in ("exists", "=="):
                mapping.platform[requirement.name] = f"platform qualification {requirement.name}"
            else:
                mapping.local_only[requirement.name] = f"the platform has no {requirement.comparator!r}"
        return mapping


class _Plugin:
    @hookimpl
    def mephisto_register_providers(self, register: Callable[[type[CrowdProvider]], None]) -> None:
        register(SyncingProvider)


def platform_calls(settings: Settings) -> list[dict[str, Any]]:
    path = SyncingProvider.data_dir_under(settings.data_dir) / PLATFORM_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def reopen(mephisto_settings: Settings) -> Any:
    """Open the test's database again after the in-process CLI closed it (the models' proxy is unbound then)."""
    from mephisto_core.data_model import open_database

    opened: list[Any] = []

    def do() -> None:
        opened.append(open_database(None, mephisto_settings.sqlite_path))

    yield do
    for database in opened:
        database.close()


def platform_records(worker: str) -> list[str]:
    return [
        r.feedback
        for r in Review.select()
        .join(Worker)
        .where((Worker.name == worker) & (Review.kind == "platform"))
        .order_by(Review.id)
    ]


@pytest.fixture
def syncing(mephisto_register_plugin: Callable[[object], None], make_submitted_run: Any) -> None:
    """The syncing provider registered, and a run of it that alice, bob and carol worked on."""
    mephisto_register_plugin(_Plugin())
    make_submitted_run(3, provider_type="sync_test", requester_name="SYNC_REQUESTER", task_name="study")


def test_grant_revoke_block_and_unblock_reach_the_platform_and_are_recorded(
    syncing: None, mephisto_cli: Any, mephisto_settings: Settings, reopen: Any
) -> None:
    granted = mephisto_cli("qualifications", "grant", "english", "alice", "--value", "3")
    assert granted.exit_code == 0, granted.output
    assert "Platform: grant: done at sync_test (requester SYNC_REQUESTER)." in granted.output
    blocked = mephisto_cli("workers", "block", "bob", "--reason", "spam", "--json")
    assert blocked.exit_code == 0, blocked.output
    answer = json.loads(blocked.output)
    assert answer["platform"] == [
        {"provider": "sync_test", "requester": "SYNC_REQUESTER", "action": "block", "status": "done", "detail": ""}
    ]
    assert mephisto_cli("workers", "block", "carol", "--reason", "pilot", "--task", "study").exit_code == 0
    assert mephisto_cli("workers", "unblock", "carol", "--task", "study").exit_code == 0
    assert mephisto_cli("workers", "unblock", "bob").exit_code == 0
    assert mephisto_cli("qualifications", "revoke", "english", "alice").exit_code == 0
    assert [(c["call"], c["worker"]) for c in platform_calls(mephisto_settings)] == [
        ("grant", "alice"),
        ("block", "bob"),
        ("block_task", "carol"),
        ("unblock_task", "carol"),
        ("unblock", "bob"),
        ("revoke", "alice"),
    ]
    assert platform_calls(mephisto_settings)[2]["task"] == "study"
    reopen()
    assert platform_records("bob") == [
        "block: done at sync_test (requester SYNC_REQUESTER).",
        "unblock: done at sync_test (requester SYNC_REQUESTER).",
    ]
    carol = Worker.get(Worker.name == "carol")
    assert granted_value(carol, "study-blocked") is None  # lifted locally too


def test_a_platform_failure_refuses_the_grant_and_changes_nothing(
    syncing: None, mephisto_cli: Any, mephisto_settings: Settings, reopen: Any
) -> None:
    result = mephisto_cli("qualifications", "grant", "explodes", "alice")
    assert result.exit_code == 1
    assert "provider 'sync_test' failed to grant: ConnectionError: the platform hung up" in result.output
    reopen()
    alice = Worker.get(Worker.name == "alice")
    assert granted_value(alice, "explodes") is None
    assert not Review.select().where(Review.worker == alice).exists()


def test_a_provider_without_platform_qualifications_says_so_and_the_grant_holds_locally(
    test_types: None, make_submitted_run: Any, mephisto_cli: Any, reopen: Any
) -> None:
    make_submitted_run(1, provider_type="crowd_test", workers=["dave"], task_name="echo")
    result = mephisto_cli("qualifications", "grant", "adult", "dave")
    assert result.exit_code == 0, result.output
    assert "grant: not at crowd_test" in result.output
    assert "has no qualifications at its platform" in result.output
    assert "enforced by mephisto's own check only" in result.output
    blocked = json.loads(mephisto_cli("workers", "block", "dave", "--reason", "spam", "--json").output)
    assert [(o["status"], o["detail"]) for o in blocked["platform"]] == [
        ("local only", "provider crowd_test does not block workers at its platform")
    ]
    reopen()
    dave = Worker.get(Worker.name == "dave")
    assert granted_value(dave, "adult") == 1 and granted_value(dave, BLOCK_QUALIFICATION) == 1
    assert [r.split(" (")[0] for r in platform_records("dave")] == [
        "grant: not at crowd_test",
        "block: not at crowd_test",
    ]


def test_the_review_app_answer_says_what_reached_the_platform(syncing: None, mephisto_settings: Settings) -> None:
    from mephisto_core.review_app.actions import worker_action

    class App:
        import threading

        action_lock = threading.Lock()

        def __init__(self) -> None:
            from mephisto_core.data_model import open_database
            from mephisto_core.operations.review.actions import ReviewActions

            self.actions = ReviewActions(
                open_database(None, mephisto_settings.sqlite_path), mephisto_settings, reviewer="web"
            )

    alice = Worker.get(Worker.name == "alice")
    answer = worker_action(App(), alice.id, "grant", {"qualification": "fluent", "value": 2})  # type: ignore[arg-type]
    assert answer["message"] == (
        "Granted fluent = 2 to worker alice. Platform: grant: done at sync_test (requester SYNC_REQUESTER)."
    )
    assert platform_calls(mephisto_settings)[-1] == {"call": "grant", "worker": "alice", "name": "fluent", "value": 2}


def test_platform_requirements_default_keeps_everything_local(test_types: None, mephisto_settings: Settings) -> None:
    crowd_test = get_registry().get("provider", "crowd_test")  # registered by the test_types fixture
    provider = crowd_test(crowd_test.Args(), "R", {}, mephisto_settings.data_dir)
    mapping = provider.platform_requirements([QualificationRequirement(name="adult")])
    assert mapping.platform == {} and mapping.local_only == {
        "adult": "provider crowd_test has no platform-side requirements"
    }


def test_check_shows_which_requirements_the_platform_enforces(
    test_types: None, mephisto_register_plugin: Callable[[object], None], task_file: Any, mephisto_cli: Any
) -> None:
    mephisto_register_plugin(_Plugin())
    path = task_file(
        rows=2,
        qualifications=[{"name": "english"}, {"name": "level", "comparator": ">=", "value": 3}],
    )
    synced = mephisto_cli("check", str(path), "provider.type=sync_test", "--json")
    assert synced.exit_code == 0, synced.output
    assert json.loads(synced.output)["qualifications"] == {
        "platform": {"english": "platform qualification english"},
        "local_only": {"level": "the platform has no '>='"},
    }
    local = mephisto_cli("check", str(path))
    assert local.exit_code == 0, local.output
    words = " ".join(local.output.split())  # rich wraps long lines
    assert "Qualifications: english: by mephisto's own check only (provider crowd_test has no platform-side" in words
    assert "level: by mephisto's own check only" in words


def test_the_mock_provider_keeps_qualifications_local_and_says_so(make_submitted_run: Any, mephisto_cli: Any) -> None:
    make_submitted_run(1, workers=["erin"])  # a run of the mock provider
    result = mephisto_cli("qualifications", "grant", "adult", "erin", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["platform"] == [
        {
            "provider": "mock",
            "requester": "mock-requester",
            "action": "grant",
            "status": "local only",
            "detail": "provider mock has no qualifications at its platform",
        }
    ]


class SlowProvider(SyncingProvider):
    """A platform that hangs on grants (longer than the provider's timeout) and fails blocks once, then works."""

    type_name: ClassVar[str] = "slow_test"
    call_timeout_seconds: ClassVar[float] = 0.3
    idempotent_calls: ClassVar[frozenset[str]] = frozenset({"block_worker"})
    failures_left: ClassVar[int] = 1

    def grant_qualification(self, worker: Worker, name: str, value: int) -> None:
        import time

        time.sleep(1.5)

    def block_worker(self, worker: Worker, reason: str) -> None:
        if SlowProvider.failures_left:
            SlowProvider.failures_left -= 1
            raise ConnectionError("reset by peer")
        super().block_worker(worker, reason)


class _SlowPlugin:
    @hookimpl
    def mephisto_register_providers(self, register: Callable[[type[CrowdProvider]], None]) -> None:
        register(SlowProvider)


def test_a_hung_platform_is_given_up_after_its_timeout_and_an_idempotent_call_is_tried_again(
    mephisto_register_plugin: Callable[[object], None],
    make_submitted_run: Any,
    mephisto_cli: Any,
    mephisto_settings: Settings,
    reopen: Any,
) -> None:
    import time

    mephisto_register_plugin(_SlowPlugin())
    make_submitted_run(1, provider_type="slow_test", workers=["gus"], requester_name="SLOW")
    started = time.monotonic()
    hung = mephisto_cli("qualifications", "grant", "adult", "gus")
    assert time.monotonic() - started < 1.2  # not the platform's 1.5 s: given up at 0.3 s
    assert hung.exit_code == 1
    assert (
        "provider 'slow_test' failed to grant: provider 'slow_test': grant_qualification did not answer within 0.3 s"
        in hung.output
    )
    blocked = mephisto_cli("workers", "block", "gus", "--reason", "spam")
    assert blocked.exit_code == 0, blocked.output  # the reset connection was tried again
    assert "Platform: block: done at slow_test (requester SLOW)." in blocked.output
    assert [c["call"] for c in platform_calls_of(SlowProvider, mephisto_settings)] == ["block"]
    reopen()
    gus = Worker.get(Worker.name == "gus")
    assert granted_value(gus, "adult") is None and granted_value(gus, BLOCK_QUALIFICATION) == 1


def platform_calls_of(provider: type[CrowdProvider], settings: Settings) -> list[dict[str, Any]]:
    path = provider.data_dir_under(settings.data_dir) / PLATFORM_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
