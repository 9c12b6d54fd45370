"""`mephisto cleanup` for Prolific: studies still taking participants and one-off groups of runs nobody serves."""

from __future__ import annotations

from typing import ClassVar, Literal

from mephisto_core.abstractions import CleanupScope, Leftover, LeftoverCleaner
from mephisto_core.errors import MephistoError


class ProlificStudiesCleaner(LeftoverCleaner):
    """Finds, per dead run of this data dir, the studies not stopped and the allow-list group not deleted."""

    kind: ClassVar[Literal["provider"]] = "provider"
    type_name: ClassVar[str] = "prolific"

    def find(self, scope: CleanupScope) -> list[Leftover]:
        """One leftover per dead run with a study not stopped or a participant group not deleted (by the record)."""
        from mephisto_core.data_model import TaskRun
        from mephisto_provider_prolific.provider import ProlificProvider
        from mephisto_provider_prolific.state import StateStore

        store = StateStore(ProlificProvider.data_dir_under(scope.data_dir))
        found = []
        for state in store.all_runs():
            if not scope.covers(state.run_id) or scope.is_run_live(state.run_id):
                continue
            if TaskRun.get_or_none(TaskRun.id == state.run_id) is None:
                continue
            studies = [s for s in state.studies if s not in state.stopped]
            things = [f"study {s}" for s in studies]
            if state.allow_group_id is not None:
                things.append(f"participant group {state.allow_group_id}")
            if not things:
                continue
            found.append(
                Leftover(
                    kind=self.kind,
                    type_name=self.type_name,
                    what=f"run {state.run_id}: " + ", ".join(things) + " at Prolific",
                    cost="an open study lets participants start work nobody serves (and be paid for it)"
                    if studies
                    else "nothing (a participant group)",
                    run_id=state.run_id,
                    handle=str(state.run_id),
                )
            )
        return found

    def remove(self, scope: CleanupScope, leftover: Leftover) -> str:
        """Stop the run's studies and delete its one-off group; refused when a launch serves the run again."""
        from mephisto_core.data_model import TaskRun
        from mephisto_provider_prolific.runs import provider_for_run

        run_id = int(leftover.handle)
        if scope.is_run_live(run_id):
            raise MephistoError(f"run {run_id} is served by a running launch again; its study was left as it is")
        run = TaskRun.get_by_id(run_id)
        provider = provider_for_run(run, scope.data_dir)
        state = provider.store.load_run(run_id)
        if state is None:
            return f"run {run_id} has no Prolific record any more"
        done = provider.stop_run_studies(state, finished=True)
        return f"run {run_id}: " + (", ".join(done) if done else "nothing left at Prolific")
