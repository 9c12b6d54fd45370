"""Every model is stored and read back, and the unique and foreign-key constraints hold, on both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import peewee as pw
import pytest
from data_model_rows import RowFactory

from mephisto_core.data_model import (
    Agent,
    AgentFile,
    AgentStatus,
    Assignment,
    Database,
    GrantedQualification,
    OnboardingAgent,
    Project,
    Qualification,
    Requester,
    Review,
    ReviewKind,
    Task,
    TaskRun,
    Unit,
    UnitStatus,
    Worker,
)


def test_every_model_is_stored_and_read_back(database: Database, rows: RowFactory) -> None:
    with database.write():
        project = Project.create(name="pilot studies")
        task = Task.create(name="caption-images", blueprint_type="static", project=project)
        requester = Requester.create(name="lab-account", provider_type="mock")
        run = TaskRun.create(
            task=task,
            requester=requester,
            blueprint_type="static",
            architect_type="local",
            provider_type="mock",
            config={"schema": 1, "task": {"name": "caption-images", "tags": ["images", "ünïcode"]}},
            sandbox=True,
        )
        assignment = Assignment.create(task_run=run, inputs={"image": "cat.png", "n": 3})
        worker = Worker.create(provider_type="mock", name="alice")
        unit = Unit.create(
            assignment=assignment,
            task_run=run,
            task=task,
            unit_index=0,
            pay_amount=Decimal("1.255"),
            status=UnitStatus.ASSIGNED.value,
            worker=worker,
        )
        agent = rows.agent(unit, worker, outputs={"caption": "a cat"}, submit_key="key-1")
        Unit.update(agent_id=agent.id).where(Unit.id == unit.id).execute()
        agent_file = AgentFile.create(
            agent=agent,
            field="photo",
            name="cat.png",
            size=1234,
            content_type="image/png",
            sha256="ab" * 32,
            path="files/1/cat.png",
        )
        onboarding = OnboardingAgent.create(worker=worker, task=task, task_run=run, token="onboarding-token")
        qualification = Qualification.create(name="fluent-english", description="passed the test")
        granted = GrantedQualification.create(worker=worker, qualification=qualification, value=3)
        review = Review.create(
            kind=ReviewKind.BONUS.value,
            unit=unit,
            worker=worker,
            task=task,
            amount=Decimal("0.75"),
            feedback="great captions",
            reviewer="bob",
        )

    assert Project.get_by_id(project.id).tasks.get() == task
    assert Requester.get_by_id(requester.id).provider_type == "mock"
    stored_run = TaskRun.get_by_id(run.id)
    assert stored_run.config["task"]["tags"] == ["images", "ünïcode"]
    assert stored_run.sandbox is True
    assert stored_run.is_completed is False
    assert isinstance(stored_run.created_at, dt.datetime)
    assert Assignment.get_by_id(assignment.id).inputs == {"image": "cat.png", "n": 3}
    stored_unit = Unit.get_by_id(unit.id)
    assert stored_unit.pay_amount == Decimal("1.26")  # auto_round to cents
    assert stored_unit.status == UnitStatus.ASSIGNED
    assert stored_unit.worker == worker
    assert stored_unit.agent_id == agent.id
    stored_agent = Agent.get_by_id(agent.id)
    assert stored_agent.outputs == {"caption": "a cat"}
    assert stored_agent.status == AgentStatus.IN_TASK
    assert stored_agent.submit_key == "key-1"
    assert [f.name for f in stored_agent.files] == ["cat.png"]
    assert AgentFile.get_by_id(agent_file.id).size == 1234
    assert OnboardingAgent.get_by_id(onboarding.id).status == AgentStatus.IN_TASK
    assert GrantedQualification.get_by_id(granted.id).value == 3
    assert Qualification.get_by_id(qualification.id).grants.count() == 1
    stored_review = Review.get_by_id(review.id)
    assert (stored_review.kind, stored_review.amount, stored_review.feedback) == (
        "bonus",
        Decimal("0.75"),
        "great captions",
    )


def test_deleting_an_agent_deletes_its_files(database: Database, rows: RowFactory) -> None:
    with database.write():
        agent = rows.agent()
        AgentFile.create(agent=agent, field="f", name="a.txt", size=1, content_type="text/plain", sha256="0", path="p")
        agent.delete_instance()
    assert AgentFile.select().count() == 0


def test_a_unit_of_a_missing_assignment_is_refused(database: Database, rows: RowFactory) -> None:
    with database.write():
        run = rows.task_run()
    with pytest.raises(pw.IntegrityError), database.write():
        Unit.create(assignment=987654, task_run=run, task=run.task, unit_index=0, pay_amount=Decimal(1))


def _second_task_with_the_same_name(rows: RowFactory) -> Callable[[], object]:
    rows.task(name="same-name")
    return lambda: rows.task(name="same-name")


def _second_worker_with_the_same_provider_and_name(rows: RowFactory) -> Callable[[], object]:
    rows.worker(name="alice", provider_type="mturk")
    return lambda: rows.worker(name="alice", provider_type="mturk")


def _second_unit_with_the_same_index(rows: RowFactory) -> Callable[[], object]:
    unit = rows.unit(index=1)
    return lambda: rows.unit(unit.assignment, index=1)


def _second_agent_with_the_same_submit_key(rows: RowFactory) -> Callable[[], object]:
    rows.agent(submit_key="retry-me")
    return lambda: rows.agent(submit_key="retry-me")


def _second_grant_of_the_same_qualification(rows: RowFactory) -> Callable[[], object]:
    worker = rows.worker()
    qualification = Qualification.create(name="approved")
    GrantedQualification.create(worker=worker, qualification=qualification)
    return lambda: GrantedQualification.create(worker=worker, qualification=qualification, value=2)


@pytest.mark.parametrize(
    "make_duplicate",
    [
        _second_task_with_the_same_name,
        _second_worker_with_the_same_provider_and_name,
        _second_unit_with_the_same_index,
        _second_agent_with_the_same_submit_key,
        _second_grant_of_the_same_qualification,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_duplicates_are_refused(
    database: Database, rows: RowFactory, make_duplicate: Callable[[RowFactory], Callable[[], object]]
) -> None:
    with database.write():
        duplicate = make_duplicate(rows)
    with pytest.raises(pw.IntegrityError), database.write():
        duplicate()


def test_the_same_worker_name_may_exist_at_two_providers(database: Database, rows: RowFactory) -> None:
    with database.write():
        rows.worker(name="alice", provider_type="mturk")
        rows.worker(name="alice", provider_type="prolific")
    assert Worker.select().where(Worker.name == "alice").count() == 2


def test_unit_indexes_repeat_across_assignments(database: Database, rows: RowFactory) -> None:
    with database.write():
        run = rows.task_run()
        rows.unit(rows.assignment(run), index=0)
        rows.unit(rows.assignment(run), index=0)
    assert Unit.select().where(Unit.unit_index == 0).count() == 2


def test_many_agents_may_have_no_submit_key_yet(database: Database, rows: RowFactory) -> None:
    with database.write():
        rows.agent()
        rows.agent()
    assert Agent.select().where(Agent.submit_key.is_null()).count() == 2


def test_a_refused_duplicate_leaves_the_transaction_rolled_back(database: Database, rows: RowFactory) -> None:
    with database.write():
        rows.task(name="first")
    with pytest.raises(pw.IntegrityError), database.write():
        rows.task(name="written-before-the-duplicate")
        rows.task(name="first")
    assert [t.name for t in Task.select()] == ["first"]
