"""What a run can leave behind (HITs, studies, groups, servers, processes) and how a plugin lists and removes it.

A provider or architect plugin implements the `mephisto_cleanup` hook and calls `register(cleaner)` with a
`LeftoverCleaner`. `mephisto cleanup` asks every cleaner what it finds (`find`), shows the list with what each
item costs, and removes what the researcher confirms (`remove`). Every launch ends by asking the cleaners about
its own run, and warns about anything they still find.

A cleaner must never report what a live launch still uses: `CleanupScope.is_run_live` tells which runs are
served by a running process right now.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from mephisto_core.data_model import Database

LeftoverKind = Literal["provider", "architect"]


@dataclass(frozen=True)
class Leftover:
    """One thing left behind, as `mephisto cleanup` lists it.

    `what` names it for a person (which HIT, which process, which folder), `cost` says what it costs while it
    stays (money per hour, a port, disk, or "nothing"), `run_id` is the run that left it (None when unknown) and
    `handle` is the cleaner's own reference to it, passed back to `remove`.
    """

    kind: LeftoverKind
    type_name: str
    what: str
    cost: str
    run_id: int | None
    handle: str


@dataclass(frozen=True)
class CleanupScope:
    """Where to look and what to leave alone.

    `run_id` limits the search to one run (the end-of-launch check), None means every run. `is_run_live(run_id)`
    is True while a process serves that run (its owner is alive and beating): nothing of such a run is a leftover.
    `database` is the open database (write through `database.write()`).
    """

    database: Database
    data_dir: Path
    runs_dir: Path
    run_id: int | None
    is_run_live: Callable[[int], bool]

    def covers(self, run_id: int | None) -> bool:
        """True when a leftover of `run_id` belongs in this search."""
        return self.run_id is None or run_id == self.run_id


class LeftoverCleaner(ABC):
    """Base class of what a plugin registers through `mephisto_cleanup`.

    A subclass sets `kind` ("provider" or "architect") and `type_name` (the type it cleans up after), and
    implements `find` and `remove` (abstract: a cleaner missing one cannot be made, so the plugin fails when it
    registers it, named, instead of at the first `mephisto cleanup`). Both run in the `mephisto cleanup` process
    with the database open.
    """

    kind: ClassVar[LeftoverKind]
    type_name: ClassVar[str]

    @abstractmethod
    def find(self, scope: CleanupScope) -> list[Leftover]:
        """Everything this type left behind within `scope` (never anything of a live run); no side effects."""

    @abstractmethod
    def remove(self, scope: CleanupScope, leftover: Leftover) -> str:
        """Remove one leftover `find` returned; return one sentence saying what was done.

        Check again that it is still a leftover (a launch may have resumed its run since it was listed) and raise
        MephistoError with the reason when it cannot be removed.
        """
