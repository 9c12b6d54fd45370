"""Remote procedure calls: every call a worker's page made to a task's Python function, and its answer.

The original system kept these as `requests[]` in each agent's state file; here each call is one row, written
when the call starts (so a crash leaves a trace) and completed with its result or error when it ends. A page
resends a call under the same `call_key` until it is answered: (agent, call_key) is unique, so a resend is
answered from the row and the function runs once.
"""

from __future__ import annotations

import peewee as pw

from mephisto_core.data_model.models import Agent, BaseModel, JSONField, TaskRun, Unit, Worker, utcnow


class ProcedureCall(BaseModel):
    """One call of a task's remote procedure by one worker's attempt at a unit."""

    task_run = pw.ForeignKeyField(TaskRun, backref="procedure_calls", on_delete="CASCADE")
    unit = pw.ForeignKeyField(Unit, backref="procedure_calls", on_delete="CASCADE")
    agent = pw.ForeignKeyField(Agent, backref="procedure_calls", on_delete="CASCADE")
    worker = pw.ForeignKeyField(Worker, backref="procedure_calls", on_delete="CASCADE")
    call_key = pw.CharField()  # client-made: the same key is the same call, resent
    name = pw.CharField()
    args = JSONField(null=True)
    result = JSONField(null=True)
    #: null while running or when the call succeeded; else procedure_failed / procedure_timeout
    error_code = pw.CharField(null=True)
    #: the full error for the researcher (the worker saw `error_shown`)
    error = pw.TextField(null=True)
    error_shown = pw.TextField(null=True)
    started_at = pw.DateTimeField(default=utcnow)
    finished_at = pw.DateTimeField(null=True)
    duration_ms = pw.FloatField(null=True)

    class Meta:
        indexes = (
            (("agent", "call_key"), True),
            (("task_run", "unit"), False),
        )

    def as_record(self) -> dict[str, object]:
        """The call as plain JSON-able data (export and review)."""
        return {
            "name": self.name,
            "args": self.args,
            "result": self.result,
            "error_code": self.error_code,
            "error": self.error_shown if self.error_code else None,
            "agent_id": self.agent_id,
            "started_at": self.started_at.isoformat() + "Z" if self.started_at else None,
            "finished_at": self.finished_at.isoformat() + "Z" if self.finished_at else None,
            "duration_ms": None if self.duration_ms is None else round(self.duration_ms, 3),
        }


def calls_of_units(unit_ids: list[int]) -> dict[int, list[dict[str, object]]]:
    """Each unit's calls in the order they started (export and review)."""
    out: dict[int, list[dict[str, object]]] = {}
    for start in range(0, len(unit_ids), 500):
        chunk = unit_ids[start : start + 500]
        query = ProcedureCall.select().where(ProcedureCall.unit.in_(chunk)).order_by(ProcedureCall.id)
        for row in query:
            out.setdefault(row.unit_id, []).append(row.as_record())
    return out
