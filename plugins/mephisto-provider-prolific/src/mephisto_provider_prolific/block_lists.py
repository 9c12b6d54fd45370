"""The workspace's block lists at Prolific: participant groups the studies exclude, found by name once.

A block (or unblock) adds the participant to a group named in the provider's settings (the workspace's block list,
or a task's own). Finding the group by name takes two listings (the workspaces, then their groups), under a lock
that keeps two threads from making the same group twice: a bulk block of 200 workers spent 400 listings on it,
one at a time, 82 s with Prolific answering in 0.2 s. `BlockLists` finds each group once per provider and keeps
its id; a group deleted in Prolific's web app meanwhile (a 404) is found, or made, again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from mephisto_provider_prolific.api import ProlificAPI
from mephisto_provider_prolific.client import ProlificAPIError


class BlockLists:
    """Adds participants to, and removes them from, the workspace's groups by name (see the module docstring)."""

    def __init__(self, api: Callable[[], ProlificAPI], workspace: str) -> None:
        self._api = api
        self._workspace = workspace
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, name: str, participant_ids: Sequence[str]) -> None:
        """Put the participants in group `name` (made when missing); one call for all of them."""
        self._change(name, lambda api, group: api.add_to_group(group, list(participant_ids)))

    def remove(self, name: str, participant_ids: Sequence[str]) -> None:
        """Take the participants out of group `name`; one call for all of them."""
        self._change(name, lambda api, group: api.remove_from_group(group, list(participant_ids)))

    def group_id(self, name: str) -> str:
        """The id of the workspace's group `name`, found (or made) on first use."""
        with self._lock:
            found = self._ids.get(name)
        if found is not None:
            return found
        api = self._api()
        workspace = api.find_or_create_workspace(self._workspace)
        found = api.find_or_create_group(workspace.id, name).id
        with self._lock:
            return self._ids.setdefault(name, found)

    def _change(self, name: str, change: Callable[[ProlificAPI, str], None]) -> None:
        group = self.group_id(name)
        try:
            change(self._api(), group)
        except ProlificAPIError as exc:
            if exc.status != 404:
                raise
            with self._lock:  # deleted at Prolific meanwhile: find it (or make it) again, once
                if self._ids.get(name) == group:
                    del self._ids[name]
            change(self._api(), self.group_id(name))
