"""`mephisto quality`: what the task file's quality rules did to workers, and undoing it."""

from __future__ import annotations

import json

import click

from mephisto_core.cli._worker_changes import session as _session
from mephisto_core.cli.workers_cmds import _print, json_option


@click.group()
def quality() -> None:
    """List and undo the actions of [[task.quality_rules]] (docs/workers.md)."""


@quality.command("actions")
@click.option("--task", "task_name", default=None, help="Only this task's actions.")
@click.option("--worker", default=None, help="Only this worker's actions (the provider's worker id).")
@json_option
def actions(task_name: str | None, worker: str | None, as_json: bool) -> None:
    """List every action a quality rule took, newest first, with what the provider did."""
    from mephisto_core.data_model import Worker
    from mephisto_core.operations.run.quality_rules import action_rows

    with _session() as _:
        worker_id = None
        if worker is not None:
            found = Worker.get_or_none(Worker.name == worker)
            if found is None:
                raise click.ClickException(f"no worker is named {worker!r} (`mephisto workers list` lists them)")
            worker_id = found.id
        rows = action_rows(task_name, worker_id)
    shown = rows if as_json else [{k: v for k, v in row.items() if k not in ("worker_id", "detail")} for row in rows]
    _print(shown, as_json, "Quality rule actions", "No quality rule has acted.")


@quality.command("undo")
@click.argument("action_id", type=int)
@json_option
def undo(action_id: int, as_json: bool) -> None:
    """Lift what rule action ACTION_ID did (at the provider first, as a manual unblock or revoke)."""
    from mephisto_core.operations.run import quality_rules

    with _session() as (_, review_actions):
        outcomes = quality_rules.undo(review_actions, action_id)
    if as_json:
        click.echo(json.dumps({"undone": action_id, "platform": [o.as_dict() for o in outcomes]}, indent=2))
        return
    click.echo(f"Undid quality rule action {action_id}.")
    for outcome in outcomes:
        click.echo(f"  Platform: {outcome.sentence()}")
