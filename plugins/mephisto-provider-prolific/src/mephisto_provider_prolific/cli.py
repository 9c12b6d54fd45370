"""`mephisto prolific ...`: the studies this data dir's runs made, their cleanup, and messages to participants."""

from __future__ import annotations

from typing import Any

import click

from mephisto_core.errors import MephistoError

STUDY_PREFIX = "mephisto-run-"


class _ProlificGroup(click.Group):
    """Turns the plugin's expected errors into one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MephistoError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_ProlificGroup)
def prolific() -> None:
    """Prolific studies made by mephisto runs: list them, clean up after dead runs, message participants.

    The API token is the one stored by `mephisto register prolific NAME api_key=...` (`--requester NAME`).
    """


def _provider(requester: str, workspace: str | None = None) -> Any:
    from mephisto_core.settings import load_settings_or_explain
    from mephisto_provider_prolific.args import ProlificArgs
    from mephisto_provider_prolific.runs import provider_for

    args = ProlificArgs() if workspace is None else ProlificArgs(workspace=workspace)
    return provider_for(requester, args, load_settings_or_explain().data_dir)


@prolific.command("studies")
@click.option("--requester", default="prolific", show_default=True, help="Registered Prolific requester.")
@click.option("--all", "show_all", is_flag=True, help="Also list studies not made by mephisto.")
def studies(requester: str, show_all: bool) -> None:
    """List the studies at Prolific (those made by mephisto runs unless --all): id, run, status, places."""
    provider = _provider(requester)
    recorded = {s: state.run_id for state in provider.store.all_runs() for s in state.studies}
    rows = []
    for study in provider.api.studies():
        name = study.internal_name or ""
        if not show_all and not name.startswith(STUDY_PREFIX) and study.id not in recorded:
            continue
        run = recorded.get(study.id)
        rows.append((study.id, "-" if run is None else str(run), study.status, study, name))
    if not rows:
        click.echo("No studies made by mephisto at Prolific." if not show_all else "No studies at Prolific.")
        return
    click.echo(f"{'study':<26} {'run':>5}  {'status':<16} {'places':>9}  internal name")
    for study_id, run, status, study, name in rows:
        places = f"{study.places_taken}/{study.total_available_places}"
        click.echo(f"{study_id:<26} {run:>5}  {status:<16} {places:>9}  {name}")


@prolific.command("cleanup")
@click.option("--dry-run", is_flag=True, help="Only list what dead runs left at Prolific; change nothing.")
@click.option("--yes", is_flag=True, help="Remove without asking (needed when there is no terminal to ask on).")
@click.pass_context
def cleanup(ctx: click.Context, dry_run: bool, yes: bool) -> None:
    """Stop the studies and delete the one-off groups of runs no launch serves.

    The same as `mephisto cleanup --provider prolific`.
    """
    root = ctx.find_root().command
    command = root.get_command(ctx, "cleanup") if isinstance(root, click.Group) else None
    if command is None:
        raise click.ClickException("this mephisto has no `cleanup` command to hand over to")
    ctx.invoke(command, dry_run=dry_run, provider_type="prolific", yes=yes)


@prolific.command("message")
@click.argument("participant")
@click.argument("text")
@click.option("--study", "study_id", default=None, help="The study the message is about (default: their newest).")
@click.option("--requester", default="prolific", show_default=True, help="Registered Prolific requester.")
def message(participant: str, text: str, study_id: str | None, requester: str) -> None:
    """Send TEXT to the Prolific participant PARTICIPANT (their PROLIFIC_PID)."""
    provider = _provider(requester)
    if study_id is None:
        study_id = _newest_study_of(participant)
    provider.send_message(participant, text, study_id)
    click.echo(f"Message sent to participant {participant} (study {study_id}).")


def _newest_study_of(participant: str) -> str:
    """The study of the participant's newest submission a mephisto run stored (from the database)."""
    from mephisto_core.data_model import Agent, Worker, open_database
    from mephisto_core.settings import load_settings_or_explain
    from mephisto_provider_prolific.provider import ProlificProvider
    from mephisto_provider_prolific.state import StateStore

    settings = load_settings_or_explain()
    database = open_database(settings.database_url, settings.sqlite_path)
    try:
        agent = (
            Agent.select()
            .join(Worker)
            .where((Worker.provider_type == "prolific") & (Worker.name == participant))
            .order_by(Agent.id.desc())
            .first()
        )
        run_id = None if agent is None else int(agent.task_run_id)
    finally:
        database.close()
    if run_id is None:
        raise MephistoError(f"participant {participant} never worked on a mephisto run here; give --study STUDY_ID")
    state = StateStore(ProlificProvider.data_dir_under(settings.data_dir)).load_run(run_id)
    if state is None or state.study_id is None:
        raise MephistoError(f"run {run_id} has no Prolific study on record; give --study STUDY_ID")
    return state.study_id
