"""What one worker and one run may upload, counted in the database so reconnects and restarts cannot reset it.

Before an upload is written, `reserve_upload` records it as an `Upload` row, in the same writer job that checks
the two limits: at most `max_per_unit` uploads by one worker on one unit (over all its attempts, also swept
ones), and at most the run's quota of bytes kept on disk (`task.max_run_upload_mb`; swept files free theirs).
The writer thread runs jobs one at a time and one process owns a run, so check and insert cannot interleave with
another upload of the run. Because the row is committed before the file exists, every file a crashed process
received is findable by its run (see `upload_sweep`).
"""

from __future__ import annotations

import peewee as pw

from mephisto_core.data_model import Agent, Upload
from mephisto_core.errors import MephistoError

MEGABYTE = 2**20


class UploadLimitReached(MephistoError):
    """An upload was refused because its unit or its run has had as many files or bytes as allowed."""


def reserve_upload(agent_id: int, upload_id: str, path: str, size: int, max_per_unit: int, quota_mb: int) -> bool:
    """Record the upload for `agent_id` if the limits allow it; True for a new upload, False for a resend.

    Raises UploadLimitReached (the message is for the worker) or ValueError (an id of another worker, an
    attempt that no longer exists). Run it on the writer thread.
    """
    existing = Upload.get_or_none(Upload.upload_id == upload_id)
    if existing is not None:
        if existing.agent_id != agent_id:
            raise ValueError("upload_id already used by another worker")
        return False  # a resend of an upload already counted: it counts once
    agent = Agent.get_or_none(Agent.id == agent_id)
    if agent is None:
        raise ValueError("this page's attempt no longer exists; reload the page")
    on_unit = Upload.select().where(Upload.unit == agent.unit_id, Upload.worker == agent.worker_id).count()
    if on_unit >= max_per_unit:
        raise UploadLimitReached(f"A unit takes at most {max_per_unit} files; this one has that many already.")
    kept = (
        Upload.select(pw.fn.COALESCE(pw.fn.SUM(Upload.size), 0))
        .where(Upload.task_run == agent.task_run_id, Upload.removed == False)  # noqa: E712  # peewee builds SQL
        .scalar()
    )
    if int(kept) + size > quota_mb * MEGABYTE:
        raise UploadLimitReached(
            f"This task cannot store more files: its storage limit ({quota_mb} MB) is reached. "
            "The file was not stored; please tell the requester."
        )
    Upload.create(
        upload_id=upload_id,
        task_run=agent.task_run_id,
        unit=agent.unit_id,
        worker=agent.worker_id,
        agent=agent_id,
        size=size,
        path=path,
    )
    return True


def forget_upload(upload_id: str) -> None:
    """Delete the record of an upload whose file could not be written, so it counts for nothing."""
    Upload.delete().where(Upload.upload_id == upload_id).execute()


def correct_path(upload_id: str, path: str) -> None:
    """Point the record at where the store actually keeps the file (an earlier process stored it first)."""
    Upload.update(path=path).where(Upload.upload_id == upload_id).execute()
