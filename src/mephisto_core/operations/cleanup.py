"""Finding and removing what runs left behind, across every installed plugin's `mephisto_cleanup` cleaners.

`mephisto cleanup` lists (`find_leftovers`) and removes (`remove_leftovers`); the operator calls
`warn_about_leftovers` for its own run as the last step of every launch. A run is live (and nothing of it is a
leftover) while its owner process is alive and beating, the same rule a launch uses to refuse a run another
process serves (`run_setup`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from mephisto_core.abstractions.leftovers import CleanupScope, Leftover, LeftoverCleaner
from mephisto_core.data_model import Database, TaskRun
from mephisto_core.data_model.models import utcnow
from mephisto_core.errors import MephistoError
from mephisto_core.operations.run import run_setup
from mephisto_core.settings import Settings

log = logging.getLogger(__name__)

CLEANUP_COMMAND = "mephisto cleanup"


def is_run_live(run_id: int) -> bool:
    """True while a process serves run `run_id`: it has an owner that is alive and beat recently."""
    run: TaskRun | None = TaskRun.get_or_none(TaskRun.id == run_id)
    if run is None or run.owner is None or run.is_completed or run.heartbeat_at is None:
        return False
    if not run_setup._may_be_alive(run.owner):  # the rule a launch uses to take a run over
        return False
    return bool((utcnow() - run.heartbeat_at).total_seconds() < run_setup.OWNER_TIMEOUT_SECONDS)


def scope_for(settings: Settings, database: Database, run_id: int | None = None) -> CleanupScope:
    """The search over this data dir and database (one run's leftovers when `run_id` is given)."""
    return CleanupScope(database, settings.data_dir, settings.runs_dir, run_id, is_run_live)


@dataclass
class Findings:
    """What the cleaners found, and the cleaners that could not look (one line each)."""

    leftovers: list[tuple[LeftoverCleaner, Leftover]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def installed_cleaners(provider_type: str | None = None) -> tuple[list[LeftoverCleaner], list[str]]:
    """Every registered cleaner (only those of provider `provider_type` when given), and hook problems."""
    from mephisto_core.plugins import cleaners

    found, problems = cleaners()
    if provider_type is None:
        return found, problems
    known = sorted({c.type_name for c in found if c.kind == "provider"})
    chosen = [c for c in found if c.kind == "provider" and c.type_name == provider_type]
    if not chosen:
        raise MephistoError(
            f"no installed provider type {provider_type!r} lists leftovers; "
            f"provider types that do: {', '.join(known) or 'none'}"
        )
    return chosen, problems


def find_leftovers(scope: CleanupScope, chosen: list[LeftoverCleaner], problems: list[str]) -> Findings:
    """Ask each cleaner what it finds within `scope`; a cleaner that raises is a problem line, not a crash."""
    findings = Findings(problems=list(problems))
    for cleaner in chosen:
        try:
            found = cleaner.find(scope)
        except Exception as exc:
            findings.problems.append(
                f"{cleaner.kind} {cleaner.type_name}: could not list its leftovers ({type(exc).__name__}: {exc})"
            )
            continue
        findings.leftovers.extend((cleaner, leftover) for leftover in found if scope.covers(leftover.run_id))
    return findings


@dataclass(frozen=True)
class Removal:
    """The result of removing one leftover: done (with the cleaner's sentence) or not (with the reason)."""

    leftover: Leftover
    ok: bool
    message: str


def remove_leftovers(scope: CleanupScope, findings: Findings) -> list[Removal]:
    """Remove every leftover found; one failure does not stop the others."""
    results = []
    for cleaner, leftover in findings.leftovers:
        try:
            results.append(Removal(leftover, True, cleaner.remove(scope, leftover)))
        except Exception as exc:
            reason = str(exc) if isinstance(exc, MephistoError) else f"{type(exc).__name__}: {exc}"
            results.append(Removal(leftover, False, reason))
    return results


def warn_about_leftovers(settings: Settings, database: Database, run_id: int) -> list[Leftover]:
    """The end-of-launch check: log a warning naming what run `run_id` left behind and the command that removes it.

    Never raises: a launch that ended (well or not) must not end with a traceback from its check.
    """
    try:
        chosen, problems = installed_cleaners()
        findings = find_leftovers(scope_for(settings, database, run_id), chosen, problems)
    except Exception as exc:  # the check itself broke: say so, the run's own outcome stands
        log.warning("could not check what run %d left behind: %s: %s", run_id, type(exc).__name__, exc)
        return []
    for problem in findings.problems:
        log.warning("leftover check: %s", problem)
    left = [leftover for _, leftover in findings.leftovers]
    if left:
        items = "; ".join(f"{item.kind} {item.type_name}: {item.what} (costs {item.cost})" for item in left)
        log.warning(
            "run %d left %d thing(s) behind: %s. `%s --dry-run` lists them, `%s` removes them.",
            run_id,
            len(left),
            items,
            CLEANUP_COMMAND,
            CLEANUP_COMMAND,
        )
    return left
