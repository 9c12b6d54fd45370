"""`mephisto cleanup` for MTurk: HITs still open to workers of runs that no launch serves any more."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from mephisto_core.abstractions import CleanupScope, Leftover, LeftoverCleaner
from mephisto_core.errors import MephistoError
from mephisto_core.settings import load_settings_or_explain
from mephisto_provider_mturk.accounts import Requester, build_provider, mturk_requesters


class OpenHitsCleaner(LeftoverCleaner):
    """Lists every assignable HIT this installation published for a run that is not live, per requester."""

    kind: ClassVar[Literal["provider"]] = "provider"
    type_name: ClassVar[str] = "mturk"

    def _requesters(self) -> list[Requester]:
        settings = load_settings_or_explain()
        return [r for r in mturk_requesters(settings.config_file) if r.provider_type == self.type_name]

    def find(self, scope: CleanupScope) -> list[Leftover]:
        settings = load_settings_or_explain()
        found: list[Leftover] = []
        for requester in self._requesters():
            provider = build_provider(settings.config_file, scope.data_dir, requester)
            runs = provider.store.run_ids()
            if not runs or (scope.run_id is not None and scope.run_id not in runs):
                continue  # no run (or not this one) was set up at MTurk here: ask MTurk nothing
            for note, hit in provider.hits.ours(fresh=True):
                if hit.get("HITStatus") != "Assignable":
                    continue
                if not scope.covers(note.run_id) or scope.is_run_live(note.run_id):
                    continue
                reward = Decimal(str(hit.get("Reward", "0")))
                found.append(
                    Leftover(
                        kind="provider",
                        type_name=self.type_name,
                        what=f"open HIT {hit['HITId']} (requester {requester.name})",
                        cost=f"${reward} + ${provider.fee(reward)} fee each time a worker takes it and is approved",
                        run_id=note.run_id,
                        handle=f"{requester.name}:{hit['HITId']}",
                    )
                )
        return found

    def remove(self, scope: CleanupScope, leftover: Leftover) -> str:
        settings = load_settings_or_explain()
        name, _, hit_id = leftover.handle.partition(":")
        requester = next((r for r in self._requesters() if r.name == name), None)
        if requester is None:
            raise MephistoError(f"requester {name!r} is no longer registered for {self.type_name}")
        if leftover.run_id is not None and scope.is_run_live(leftover.run_id):
            raise MephistoError(f"run {leftover.run_id} is served by a launch again: HIT {hit_id} is in use")
        provider = build_provider(settings.config_file, scope.data_dir, requester)
        hit = provider.hits.get(hit_id)
        if hit.get("HITStatus") != "Assignable":
            return f"HIT {hit_id} was no longer open ({hit.get('HITStatus')})"
        provider.hits.expire(hit_id)
        return f"expired HIT {hit_id}"


class SandboxOpenHitsCleaner(OpenHitsCleaner):
    """The same for `mturk_sandbox` requesters."""

    type_name: ClassVar[str] = "mturk_sandbox"
