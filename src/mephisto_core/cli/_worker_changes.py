"""Changes to workers from the command line, one worker or many: `mephisto workers block/unblock` and `mephisto
qualifications grant/revoke` take several WORKER arguments and `--workers-from FILE`.

Many workers go through `ReviewActions.change_workers`, as the review app's bulk actions: read together, their
platforms told several at once (or many in one call where the provider can: Prolific's block list, its allow
lists), each recorded as its platform answers. One worker's refusal (unknown, not holding the qualification, the
platform refused) is said for that worker, the others go on, and the exit status is 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

import click

if TYPE_CHECKING:
    from mephisto_core.abstractions.platform_sync import PlatformOutcome
    from mephisto_core.data_model import Database, Worker
    from mephisto_core.operations.review.actions import ReviewActions
    from mephisto_core.operations.review.worker_changes import WorkerChange


@contextmanager
def session() -> Iterator[tuple[Database, ReviewActions]]:
    """The settings' database and the review actions on it, recorded with the reviewer `cli`."""
    from mephisto_core.cli.context import load_settings, open_settings_database
    from mephisto_core.operations.review.actions import ReviewActions

    settings = load_settings()
    database = open_settings_database(settings)
    try:
        yield database, ReviewActions(database, settings, reviewer="cli")
    finally:
        database.close()


#: how a command makes its change to one worker it found (`ReviewActions.block_change`, ...)
ChangeMaker = Callable[["ReviewActions", "Worker"], "WorkerChange"]

workers_from_option = click.option(
    "--workers-from",
    type=click.File("r"),
    metavar="FILE",
    help="More workers, one provider id per line (# starts a comment); - reads standard input.",
)


def worker_names(names: Sequence[str], workers_from: IO[str] | None) -> list[str]:
    """The workers named on the command line and in `workers_from`, each once, in order."""
    listed = list(names)
    if workers_from is not None:
        listed += [line.strip() for line in workers_from if line.strip() and not line.strip().startswith("#")]
    if not listed:
        raise click.UsageError("name the workers: WORKER ... or --workers-from FILE")
    return list(dict.fromkeys(listed))


@dataclass
class _Asked:
    """One worker named on the command line, and what became of the change."""

    name: str
    worker: Worker | None = None
    created: bool = False
    outcomes: list[PlatformOutcome] = field(default_factory=list)
    error: Exception | None = None


def change_workers(
    names: Sequence[str],
    provider: str | None,
    change: ChangeMaker,
    done: Callable[[str], str],
    *,
    add_unknown: bool,
    qualifications: Sequence[str] = (),
    as_json: bool = False,
) -> None:
    """`change` each named worker (adding the unknown ones first with `add_unknown`: blocks and grants made in
    advance), then say per worker what was done here and at each platform; exit status 1 when any was refused.
    One worker refused alone is an error, as it always was."""
    from mephisto_core.errors import MephistoError

    if add_unknown and provider is not None:
        from mephisto_core.plugins import get_registry

        get_registry().get("provider", provider)  # a typo would make a worker no link can ever reach
    with session() as (database, actions):
        asked = _found(database, names, provider, add_unknown)
        known = [one for one in asked if one.worker is not None]
        ids = [one.worker.id for one in known if one.worker is not None]
        made: list[tuple[_Asked, WorkerChange]] = []
        with actions.workers_read_together(ids, qualifications):
            for one in known:
                assert one.worker is not None
                try:
                    made.append((one, change(actions, one.worker)))
                except MephistoError as exc:
                    one.error = exc
        for (one, _), result in zip(made, actions.change_workers([c for _, c in made]), strict=True):
            if isinstance(result, Exception):
                one.error = result
            else:
                one.outcomes = result
    if len(asked) == 1 and asked[0].error is not None:
        raise asked[0].error
    _report(asked, done, as_json)
    if any(one.error is not None for one in asked):
        sys.exit(1)


#: worker names looked up in one statement (well within SQLite's limit on bound parameters)
NAMES_PER_READ = 500


def _found(database: Database, names: Sequence[str], provider: str | None, add_unknown: bool) -> list[_Asked]:
    """The named workers, read together; a name that is not exactly one known worker (unknown, to be added, or
    known to several providers) goes through `find_or_add_worker` / `find_worker`, which add it or say why not."""
    from mephisto_core.data_model import Worker
    from mephisto_core.data_model.qualifications import find_or_add_worker, find_worker
    from mephisto_core.errors import MephistoError

    asked = [_Asked(name) for name in names]
    by_name: dict[str, list[Worker]] = {}
    for start in range(0, len(names), NAMES_PER_READ):
        query = Worker.select().where(Worker.name.in_(list(names[start : start + NAMES_PER_READ])))
        if provider is not None:
            query = query.where(Worker.provider_type == provider)
        for worker in query:
            by_name.setdefault(str(worker.name), []).append(worker)
    with database.write():
        for one in asked:
            known = by_name.get(one.name, [])
            try:
                if len(known) == 1:
                    one.worker = known[0]
                elif add_unknown:
                    one.worker, one.created = find_or_add_worker(one.name, provider)
                else:
                    one.worker = find_worker(one.name, provider)
            except MephistoError as exc:
                one.error = exc
    return asked


def _report(asked: list[_Asked], done: Callable[[str], str], as_json: bool) -> None:
    """Per worker what was done here and, per provider, whether its platform was told (never silently skipped)."""
    if as_json:
        rows = [
            {"worker": one.name, "error": str(one.error)}
            if one.error is not None
            else {"worker": one.name, "done": done(one.name), "platform": [o.as_dict() for o in one.outcomes]}
            for one in asked
        ]
        click.echo(json.dumps(rows[0] if len(rows) == 1 else rows, indent=2))
        return
    for one in asked:
        if one.error is not None:
            click.echo(f"{one.name}: {one.error}", err=True)
            continue
        if one.created and one.worker is not None:
            click.echo(
                f"{one.name} has not opened a task yet: added as a worker of provider {one.worker.provider_type!r}."
            )
        click.echo(done(one.name))
        for outcome in one.outcomes:
            click.echo(f"  Platform: {outcome.sentence()}")
