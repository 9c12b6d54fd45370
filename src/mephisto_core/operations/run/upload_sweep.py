"""Removing uploads that no submission will ever list: when a run ends, and when a run is resumed after a crash.

A page stores each file before it submits (so a retried submit finds it), which means files of a page that was
abandoned, timed out, or submitted without listing them stay in `files/uploads/`. Every upload is recorded as an
`Upload` row before its file is written (see `upload_limits`), also by a process that was killed later, so the
sweep asks the database: the run's uploads whose agent can no longer submit (any status but `in_task`) and that
no `AgentFile` of that agent points to are deleted, and their rows marked `removed` (they keep counting towards
their unit's cap). Agents still `in_task` keep theirs: their page may still submit, listing them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import peewee as pw

from mephisto_core.data_model import Agent, AgentFile, AgentStatus, Upload
from mephisto_core.operations.run.db_writer import DatabaseWriter
from mephisto_core.operations.run.uploads import UploadStore

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per IN (...): well under any database's bound-parameter limit


def unlisted_uploads(run_id: int) -> list[str]:
    """The upload ids of run `run_id`, still on disk, whose agent is done and that no submission lists.

    Reads the database only (run it on the writer thread).
    """
    listed = AgentFile.select(AgentFile.id).where(AgentFile.agent == Upload.agent, AgentFile.path == Upload.path)
    query = (
        Upload.select(Upload.upload_id)
        .join(Agent, on=Upload.agent == Agent.id)
        .where(
            Upload.task_run == run_id,
            Upload.removed == False,  # noqa: E712  # peewee builds SQL from ==
            Agent.status != AgentStatus.IN_TASK,
            ~pw.fn.EXISTS(listed),
        )
        .order_by(Upload.id)
    )
    return [row.upload_id for row in query]


def mark_removed(upload_ids: list[str]) -> None:
    """Record that these uploads' files are gone (run it on the writer thread)."""
    for start in range(0, len(upload_ids), _CHUNK):
        chunk = upload_ids[start : start + _CHUNK]
        Upload.update(removed=True).where(Upload.upload_id.in_(chunk)).execute()


def remove_uploads(store: UploadStore, upload_ids: Iterable[str]) -> list[str]:
    """Delete these uploads' files; return the ids that went. One that cannot go is logged and left."""
    removed = []
    for upload_id in upload_ids:
        try:
            store.remove(upload_id)
        except OSError as exc:
            log.warning("could not remove the unlisted upload %s: %s", store.folder(upload_id), exc)
            continue
        removed.append(upload_id)
    return removed


async def sweep_run(writer: DatabaseWriter, run_id: int, store: UploadStore) -> int:
    """Delete run `run_id`'s uploads no submission lists or will list; return how many went.

    A database or disk failure is logged and costs only disk space: the next sweep of the run tries again.
    """
    try:
        unlisted = await writer.call(unlisted_uploads, run_id)
        if not unlisted:
            return 0
        removed = await asyncio.to_thread(remove_uploads, store, unlisted)
        await writer.call(mark_removed, removed)
    except Exception as exc:  # the database or the disk failing (raw driver errors too): it only costs disk space
        log.warning(
            "could not sweep the uploads no submission lists (%s: %s); they stay in %s until the run ends or "
            "is resumed again",
            type(exc).__name__,
            exc,
            store.root,
        )
        return 0
    if removed:
        log.info("removed %d uploaded files that no submission lists", len(removed))
    return len(removed)
