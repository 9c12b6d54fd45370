"""Peewee models of the data model. They are bound to a `DatabaseProxy`; `data_model.database` opens it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee as pw

from mephisto_core.data_model.bulk import json_text
from mephisto_core.data_model.statuses import AgentStatus, UnitStatus
from mephisto_core.json_digits import loads_exactly

database_proxy = pw.DatabaseProxy()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class JSONField(pw.TextField):  # type: ignore[misc]  # peewee is untyped here
    """A JSON document stored as text (portable across SQLite and PostgreSQL).

    NaN and infinities are refused (`bulk.NotJSONValue`): Python would write them as `NaN`/`Infinity`, which is
    not JSON, and every reader of the row (export, review app) would then fail on it.
    """

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json_text(value)

    def python_value(self, value: str | None) -> Any:
        return None if value is None else loads_exactly(value)


class BaseModel(pw.Model):  # type: ignore[misc]  # peewee is untyped here
    class Meta:
        database = database_proxy
        legacy_table_names = False


class SchemaVersion(BaseModel):
    """One row per applied migration; the highest `version` is the schema in force."""

    version = pw.IntegerField(primary_key=True)
    name = pw.CharField()
    applied_at = pw.DateTimeField(default=utcnow)


class Project(BaseModel):
    """A named group of tasks (optional)."""

    name = pw.CharField(unique=True)
    created_at = pw.DateTimeField(default=utcnow)


class Task(BaseModel):
    """A named, reusable task; every launch of it is a TaskRun."""

    name = pw.CharField(unique=True)
    blueprint_type = pw.CharField()
    project = pw.ForeignKeyField(Project, null=True, backref="tasks", on_delete="SET NULL")
    created_at = pw.DateTimeField(default=utcnow)


class Requester(BaseModel):
    """The provider account that posts work and pays for it."""

    name = pw.CharField(unique=True)
    provider_type = pw.CharField(index=True)
    created_at = pw.DateTimeField(default=utcnow)


class TaskRun(BaseModel):
    """One launch of a task, with the fully resolved configuration it ran with."""

    task = pw.ForeignKeyField(Task, backref="runs")
    requester = pw.ForeignKeyField(Requester, backref="runs")
    blueprint_type = pw.CharField()
    architect_type = pw.CharField()
    provider_type = pw.CharField()
    config = JSONField()  # {"schema": 1, "task": {...}, "blueprint": {...}, "architect": {...}, "provider": {...}}
    sandbox = pw.BooleanField(default=False)
    is_completed = pw.BooleanField(default=False)
    # The operator process serving the run ("host:pid") and when it last said it is alive; a resume takes
    # over a run whose owner stopped beating.
    owner = pw.CharField(null=True)
    heartbeat_at = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)


class Assignment(BaseModel):
    """One data item of a run; its units are the worker slots that work on the same inputs."""

    task_run = pw.ForeignKeyField(TaskRun, backref="assignments", index=True)
    inputs = JSONField()
    gold_index = pw.IntegerField(null=True)  # the line of the gold file, for a gold unit's assignment
    created_at = pw.DateTimeField(default=utcnow)


class Worker(BaseModel):
    """A person, known by the provider's id for them."""

    provider_type = pw.CharField()
    name = pw.CharField()  # the provider's worker id
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("provider_type", "name"), True),)


class Unit(BaseModel):
    """One worker slot of an assignment. `unit_index` < 0 marks special units (screening -1, gold -2)."""

    # No index of their own: (assignment, unit_index), (task_run, status, id) and (task, worker) lead with them
    # (migration 11), and every index costs each claim and submission an entry. Status has none (migration 12).
    # Gold and screening units (unit_index < 0) also have a partial index by run and status (migration 13).
    # On PostgreSQL `task_run` and `task` have no foreign-key constraint (migration 14): the assignment's imply them.
    assignment = pw.ForeignKeyField(Assignment, backref="units", index=False)
    task_run = pw.ForeignKeyField(TaskRun, backref="units", index=False)
    task = pw.ForeignKeyField(Task, backref="units", index=False)
    unit_index = pw.IntegerField()
    pay_amount = pw.DecimalField(max_digits=12, decimal_places=2, auto_round=True)
    status = pw.CharField(default=UnitStatus.CREATED.value)
    # No index by worker alone (migration 17): a worker's units are found through their agents.
    worker = pw.ForeignKeyField(Worker, null=True, backref="units", index=False)
    # The current agent; a plain integer to avoid a circular foreign key with Agent.unit.
    agent_id = pw.IntegerField(null=True)
    provider_unit_id = pw.CharField(null=True)  # e.g. the MTurk HIT id
    updated_at = pw.DateTimeField(default=utcnow)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("assignment", "unit_index"), True),
            # With `id` last, the oldest launched unit of a run is read in order (the claim), not sorted.
            (("task_run", "status", "id"), False),
            # A worker's units of a task (and of a run: a task has a few): without status, so that only the
            # claim writes an entry here, not the submission too (migration 15 dropped (task_run, worker, status)).
            (("task", "worker"), False),
        )


class Agent(BaseModel):
    """One worker's attempt at one unit: its status, answers and timing."""

    unit = pw.ForeignKeyField(Unit, backref="agents")
    # No index of their own: (worker, status) and (task_run, status) lead with them (migration 11).
    # On PostgreSQL `task_run` and `assignment` have no foreign-key constraint (migration 14): the unit's imply them.
    worker = pw.ForeignKeyField(Worker, backref="agents", index=False)
    task_run = pw.ForeignKeyField(TaskRun, backref="agents", index=False)
    assignment = pw.ForeignKeyField(Assignment, backref="agents")
    status = pw.CharField(default=AgentStatus.IN_TASK.value)
    provider_agent_id = pw.CharField(null=True)  # e.g. the MTurk assignment id or Prolific submission id
    outputs = JSONField(null=True)
    # The client-made idempotency key of the submission: unique among the agents that have one, by a partial
    # index (migration 16), so that the claim's new agent row, which has none yet, writes no entry for it.
    submit_key = pw.CharField(null=True)
    token = pw.CharField(unique=True)  # secret the worker's page presents to come back to this agent
    started_at = pw.DateTimeField(default=utcnow)
    last_seen_at = pw.DateTimeField(default=utcnow)
    submitted_at = pw.DateTimeField(null=True)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("worker", "status"), False),
            (("task_run", "status"), False),
        )


class AgentFile(BaseModel):
    """A file a worker uploaded with a submission, stored under the data dir."""

    agent = pw.ForeignKeyField(Agent, backref="files", on_delete="CASCADE")
    field = pw.CharField()
    name = pw.CharField()  # the name the worker's file had
    size = pw.BigIntegerField()
    content_type = pw.CharField()
    sha256 = pw.CharField()
    path = pw.CharField()  # relative to the data dir


class Upload(BaseModel):
    """A file the operator accepted from a page, recorded before it is written to disk.

    The row outlives the process that received the file, so a relaunch after a crash finds uploads no
    submission lists (no `AgentFile` with the same `path`), and the per-unit count and per-run quota hold
    across reconnects and restarts. `removed` is set once the sweep deleted the file; the row stays so the
    file still counts towards its unit's cap.
    """

    upload_id = pw.CharField(unique=True)  # the page-made id (operations/run/uploads.py UPLOAD_ID)
    task_run = pw.ForeignKeyField(TaskRun, backref="uploads", on_delete="CASCADE")
    unit = pw.ForeignKeyField(Unit, backref="uploads", on_delete="CASCADE")
    worker = pw.ForeignKeyField(Worker, backref="uploads", on_delete="CASCADE")
    agent = pw.ForeignKeyField(Agent, backref="uploads", on_delete="CASCADE")
    size = pw.BigIntegerField()
    path = pw.CharField()  # relative to the data dir, as AgentFile.path once a submission lists it
    removed = pw.BooleanField(default=False)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("unit", "worker"), False), (("task_run", "removed"), False))


class OnboardingAgent(BaseModel):
    """A worker's attempt at a task's onboarding test."""

    worker = pw.ForeignKeyField(Worker, backref="onboardings")
    task = pw.ForeignKeyField(Task, backref="onboardings")
    task_run = pw.ForeignKeyField(TaskRun, backref="onboardings")
    status = pw.CharField(default=AgentStatus.IN_TASK.value)
    outputs = JSONField(null=True)
    submit_key = pw.CharField(null=True, unique=True)
    token = pw.CharField(unique=True)
    started_at = pw.DateTimeField(default=utcnow)
    submitted_at = pw.DateTimeField(null=True)


class Qualification(BaseModel):
    """A named property a worker can be granted (with an integer value)."""

    name = pw.CharField(unique=True)
    description = pw.TextField(default="")
    created_at = pw.DateTimeField(default=utcnow)


class GrantedQualification(BaseModel):
    """A qualification granted to a worker; `updated_at` changes whenever the value does."""

    worker = pw.ForeignKeyField(Worker, backref="qualifications", on_delete="CASCADE")
    qualification = pw.ForeignKeyField(Qualification, backref="grants", on_delete="CASCADE")
    value = pw.IntegerField(default=1)
    granted_at = pw.DateTimeField(default=utcnow)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("worker", "qualification"), True),)


class Review(BaseModel):
    """A review action on a unit or a worker: who did what, when, with which amount and feedback."""

    kind = pw.CharField()  # a ReviewKind value
    unit = pw.ForeignKeyField(Unit, null=True, backref="reviews")
    worker = pw.ForeignKeyField(Worker, backref="reviews")
    task = pw.ForeignKeyField(Task, null=True, backref="reviews")
    amount = pw.DecimalField(max_digits=12, decimal_places=2, null=True, auto_round=True)
    feedback = pw.TextField(default="")
    qualification = pw.ForeignKeyField(Qualification, null=True, backref="reviews", on_delete="SET NULL")
    qualification_value = pw.IntegerField(null=True)
    reviewer = pw.CharField(default="")
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("unit",), False), (("worker", "created_at"), False))


ALL_MODELS: list[type[BaseModel]] = [
    Project,
    Task,
    Requester,
    TaskRun,
    Assignment,
    Worker,
    Unit,
    Agent,
    AgentFile,
    Upload,
    OnboardingAgent,
    Qualification,
    GrantedQualification,
    Review,
]
