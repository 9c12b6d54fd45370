"""Removing uploads that no submission will ever list, when a run ends.

A page stores each file before it submits (so a retried submit finds it), which means files of a page that was
abandoned, timed out, or submitted without listing them stay in `files/uploads/`. At the end of a run the operator
removes the uploads it received from agents that can no longer submit (any status but `in_task`) and that no
`AgentFile` points to. Agents still `in_task` keep theirs: the next launch may let their page submit.
Uploads received by an earlier process (before a crash) are not tracked here and stay.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from mephisto_core.data_model import Agent, AgentFile, AgentStatus
from mephisto_core.operations.run.uploads import UploadStore

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per IN (...): well under any database's bound-parameter limit


def unlisted_uploads(received: Mapping[int, Iterable[str]], store: UploadStore) -> list[str]:
    """The upload ids among `received` (agent id -> upload ids) whose agent is done and that no submission lists.

    Reads the database (run it on the writer thread) and each upload's meta.json.
    """
    agent_ids = [agent_id for agent_id, ids in received.items() if ids]
    done: set[int] = set()
    linked: set[str] = set()
    for start in range(0, len(agent_ids), _CHUNK):
        chunk = agent_ids[start : start + _CHUNK]
        query = Agent.select(Agent.id).where(Agent.id.in_(chunk), Agent.status != AgentStatus.IN_TASK)
        done.update(agent.id for agent in query)
        files = AgentFile.select(AgentFile.path).where(AgentFile.agent.in_(chunk))
        linked.update(row.path for row in files)
    unlisted = []
    for agent_id in done:
        for upload_id in received[agent_id]:
            stored = store.load(upload_id)
            if stored is not None and stored.agent_id == agent_id and stored.path not in linked:
                unlisted.append(upload_id)
    return unlisted


def remove_uploads(store: UploadStore, upload_ids: Iterable[str]) -> int:
    """Delete these uploads; return how many went. One that cannot go is logged and left."""
    removed = 0
    for upload_id in upload_ids:
        try:
            store.remove(upload_id)
        except OSError as exc:
            log.warning("could not remove the unlisted upload %s: %s", store.folder(upload_id), exc)
            continue
        removed += 1
    return removed
