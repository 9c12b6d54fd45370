"""What the task file's quality rules did: one row per rule that fired for a worker in a task.

A rule fires at most once per worker and task (the unique index): after an undo it stays undone. `previous_value`
is the worker's value of the changed qualification before the rule acted (None: not held), which is what an
undo restores. `platform_status` says what the run's provider did: pending, done, local only, failed, or
not asked (a provider that keeps qualifications local).
"""

from __future__ import annotations

import peewee as pw

from mephisto_core.data_model.models import BaseModel, Task, TaskRun, Worker, utcnow


class RuleAction(BaseModel):
    """One action a quality rule took on a worker."""

    task = pw.ForeignKeyField(Task, backref="rule_actions", on_delete="CASCADE")
    task_run = pw.ForeignKeyField(TaskRun, backref="rule_actions", on_delete="CASCADE")
    worker = pw.ForeignKeyField(Worker, backref="rule_actions", on_delete="CASCADE")
    rule = pw.CharField()
    measure = pw.CharField()
    score = pw.FloatField()
    counted = pw.IntegerField()
    action = pw.CharField()
    qualification = pw.CharField()
    value = pw.IntegerField(null=True)
    previous_value = pw.IntegerField(null=True)
    detail = pw.TextField(default="")
    platform_status = pw.CharField(default="pending")
    platform_detail = pw.TextField(default="")
    created_at = pw.DateTimeField(default=utcnow)
    undone_at = pw.DateTimeField(null=True)
    undone_by = pw.CharField(null=True)

    class Meta:
        table_name = "rule_action"
        indexes = ((("task", "rule", "worker"), True),)
