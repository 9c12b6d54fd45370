"""Several operator processes serving one run on one PostgreSQL database: who is alive, and what each one holds.

The first launch of a run owns it (`TaskRun.owner`, run_setup.py); `mephisto launch --join` starts more processes
that only serve workers. Every process of such a run writes one `operator_lease` row and beats it every few
seconds, and every in-task agent names the process whose worker page holds it (`agent.held_by`, written by the
claim in pool_sql.py). When a process stops beating (kill -9, a lost machine), any live process of the run
returns that process's in-task agents (`disconnected`, as the crash resume of a single process does) and offers
their units again, in one transaction: the expired lease is deleted in it, so exactly one process does it.

`agent.held_by` is a column the models do not declare (migration 10 adds it): only the statements here and the
claim read or write it, so nothing else pays for it. NULL means "held by the run's owner" (agents made outside
the claim, such as gold units).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee as pw

from mephisto_core.data_model.models import Agent, BaseModel, TaskRun, database_proxy, utcnow
from mephisto_core.data_model.statuses import AgentStatus, UnitStatus, check_agent_transition, check_unit_transition

#: Seconds between two beats of a lease.
LEASE_BEAT_SECONDS = 2.0
#: A lease not beaten for this long belongs to a dead process: its agents are returned.
LEASE_TIMEOUT_SECONDS = 10.0
#: The agent column naming the process that holds an in-task agent (migration 10).
HELD_BY = "held_by"

_IN_TASK = AgentStatus.IN_TASK.value
_RETURNED_AS = AgentStatus.DISCONNECTED.value  # what the crash resume of a single process makes of them
_ASSIGNED = UnitStatus.ASSIGNED.value
_LAUNCHED = UnitStatus.LAUNCHED.value
_EXPIRED = UnitStatus.EXPIRED.value
check_agent_transition(_IN_TASK, _RETURNED_AS)
check_unit_transition(_ASSIGNED, _LAUNCHED)
check_unit_transition(_ASSIGNED, _EXPIRED)


class OperatorLease(BaseModel):
    """One operator process serving a run, and when it last said it is alive."""

    task_run = pw.ForeignKeyField(TaskRun, backref="operator_leases", on_delete="CASCADE")
    owner = pw.CharField()  # "host:pid", as TaskRun.owner
    heartbeat_at = pw.DateTimeField()
    joined_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "operator_lease"
        indexes = ((("task_run", "owner"), True),)


def add_held_by_column(db: pw.Database) -> None:
    """Migration 10's column on `agent` (nullable: agents of older runs, and those made outside the claim)."""
    if HELD_BY not in {column.name for column in db.get_columns("agent")}:
        db.execute_sql(f'ALTER TABLE "agent" ADD COLUMN "{HELD_BY}" VARCHAR(255)')


def beat(run_id: int, owner: str, now: dt.datetime | None = None) -> None:
    """Write or refresh `owner`'s lease on the run (writer thread)."""
    now = now or utcnow()
    updated = (
        OperatorLease.update(heartbeat_at=now)
        .where((OperatorLease.task_run == run_id) & (OperatorLease.owner == owner))
        .execute()
    )
    if not updated:
        OperatorLease.insert(task_run=run_id, owner=owner, heartbeat_at=now, joined_at=now).on_conflict(
            conflict_target=[OperatorLease.task_run, OperatorLease.owner], update={OperatorLease.heartbeat_at: now}
        ).execute()


def drop(run_id: int, owner: str) -> None:
    """Remove `owner`'s lease (it stops serving the run)."""
    OperatorLease.delete().where((OperatorLease.task_run == run_id) & (OperatorLease.owner == owner)).execute()


def live_owners(run_id: int, now: dt.datetime | None = None) -> list[str]:
    """The processes whose lease on the run is fresh."""
    fresh_after = (now or utcnow()) - dt.timedelta(seconds=LEASE_TIMEOUT_SECONDS)
    query = OperatorLease.select(OperatorLease.owner).where(
        (OperatorLease.task_run == run_id) & (OperatorLease.heartbeat_at >= fresh_after)
    )
    return sorted(owner for (owner,) in query.tuples())


def reclaim_expired(run_id: int, now: dt.datetime | None = None) -> tuple[list[str], int]:
    """Return the in-task agents of every process whose lease on the run expired; (those processes, agents).

    Call in one writer job: the leases are deleted with the agents returned, so of two live processes doing this
    at once, one returns them and the other finds nothing (the DELETE waits for the first one's commit).
    """
    stale_before = (now or utcnow()) - dt.timedelta(seconds=LEASE_TIMEOUT_SECONDS)
    stale = [
        owner
        for (owner,) in OperatorLease.select(OperatorLease.owner)
        .where((OperatorLease.task_run == run_id) & (OperatorLease.heartbeat_at < stale_before))
        .tuples()
    ]
    dead: list[str] = []
    returned = 0
    for owner in stale:
        gone = (
            OperatorLease.delete()
            .where(
                (OperatorLease.task_run == run_id)
                & (OperatorLease.owner == owner)
                & (OperatorLease.heartbeat_at < stale_before)
            )
            .execute()
        )
        if gone:  # this process deleted it: the agents are this process's to return
            dead.append(owner)
            returned += return_held(run_id, owner, now)
    return dead, returned


def return_held(run_id: int, owner: str, now: dt.datetime | None = None) -> int:
    """Return every in-task agent `owner` holds in the run and offer their units again; how many.

    The agents become `disconnected` (what a single process's crash resume makes of agents whose page never came
    back); a unit goes back to `launched`, or to `expired` for a gold unit (made for its worker alone), as
    `WorkerPool.release_agent` does.
    """
    now = now or utcnow()
    p = _param()
    cursor = _sql(
        f'SELECT "id", "unit_id" FROM "agent" WHERE "task_run_id" = {p} AND "status" = {p} AND "{HELD_BY}" = {p}',
        (run_id, _IN_TASK, owner),
    )
    rows = [(int(agent_id), int(unit_id)) for agent_id, unit_id in cursor.fetchall()]
    returned = 0
    for agent_id, unit_id in rows:
        moved = _sql(
            f'UPDATE "agent" SET "status" = {p}, "updated_at" = {p} WHERE "id" = {p} AND "status" = {p}',
            (_RETURNED_AS, now, agent_id, _IN_TASK),
        ).rowcount
        if not moved:
            continue  # submitted or released a moment ago by someone else
        returned += 1
        _sql(
            f'UPDATE "unit" SET "status" = CASE WHEN "unit_index" < 0 THEN {p} ELSE {p} END, "worker_id" = '
            f'CASE WHEN "unit_index" < 0 THEN "worker_id" END, "agent_id" = CASE WHEN "unit_index" < 0 THEN '
            f'"agent_id" END, "updated_at" = {p} WHERE "id" = {p} AND "status" = {p} AND "agent_id" = {p}',
            (_EXPIRED, _LAUNCHED, now, unit_id, _ASSIGNED, agent_id),
        )
    return returned


def orphaned_in_task_agents(run_id: int, run_owner: str, now: dt.datetime | None = None) -> list[int]:
    """In-task agents of the run held by no live process other than `run_owner` (the launch taking the run over).

    A single process's crash resume watches these for a reconnect; agents a live `--join` process holds are
    left to it.
    """
    others = [owner for owner in live_owners(run_id, now) if owner != run_owner]
    p = _param()
    sql = f'SELECT "id" FROM "agent" WHERE "task_run_id" = {p} AND "status" = {p}'
    params: list[Any] = [run_id, _IN_TASK]
    if others:
        sql += f' AND ("{HELD_BY}" IS NULL OR "{HELD_BY}" NOT IN ({", ".join([p] * len(others))}))'
        params += others
    return sorted(int(agent_id) for (agent_id,) in _sql(sql + ' ORDER BY "id"', tuple(params)).fetchall())


def timed_out_here(owner: str, joined: bool, now: dt.datetime | None = None) -> pw.Expression:
    """The agents (a condition on `Agent`) whose deadline process `owner` enforces on a run several may serve.

    A `--join` process: those it holds, whose pages are connected to it. The owner: every agent no other live
    process holds (its own, NULL ones, those of a dead or replaced process), which on a run nobody joined is
    every agent, as for a single process. The agents of a process whose lease just expired may thus be timed out
    by the owner or returned by `reclaim_expired`; the conditional status update lets one of them win.
    """
    held = pw.Column(Agent._meta.table, HELD_BY)
    if joined:
        return held == owner
    fresh_after = (now or utcnow()) - dt.timedelta(seconds=LEASE_TIMEOUT_SECONDS)
    lease = OperatorLease.alias("live_lease")
    held_live = lease.select(pw.SQL("1")).where(
        (lease.task_run == Agent.task_run) & (lease.owner == held) & (lease.heartbeat_at >= fresh_after)
    )
    return held.is_null() | (held == owner) | ~pw.fn.EXISTS(held_live)


def hold(agent_id: int, owner: str) -> None:
    """Name process `owner` on agent `agent_id`, for an agent made outside the claim's statements (a gold unit's),
    so that its deadline and its return when `owner` dies work as for every other agent (`timed_out_here`,
    `reclaim_expired`)."""
    p = _param()
    _sql(f'UPDATE "agent" SET "{HELD_BY}" = {p} WHERE "id" = {p}', (owner, agent_id))


def held_count(run_id: int, owner: str) -> int:
    """How many in-task agents `owner` holds in the run."""
    p = _param()
    return int(
        _sql(
            f'SELECT COUNT(*) FROM "agent" WHERE "task_run_id" = {p} AND "status" = {p} AND "{HELD_BY}" = {p}',
            (run_id, _IN_TASK, owner),
        ).fetchone()[0]
    )


def _db() -> pw.Database:
    db = database_proxy.obj
    if db is None:
        raise pw.InterfaceError("the models are not bound to a database (open_database was not called)")
    return db


def _param() -> str:
    return str(_db().param)


def _sql(sql: str, params: tuple[Any, ...]) -> Any:
    return _db().execute_sql(sql, params)
