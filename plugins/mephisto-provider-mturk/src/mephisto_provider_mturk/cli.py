"""`mephisto mturk ...`: balance, HITs, withdrawing what dead runs left open, messages to workers."""

from __future__ import annotations

from collections import Counter
from typing import Any

import click

from mephisto_core.errors import MephistoError


class _MTurkGroup(click.Group):
    """Turns the plugin's expected errors into one-line messages."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MephistoError as exc:
            raise click.ClickException(str(exc)) from exc


requester_option = click.option(
    "--requester", "requester_name", default=None, help="The registered MTurk requester (default: the only one)."
)


def _provider(requester_name: str | None) -> Any:
    from mephisto_core.settings import load_settings_or_explain
    from mephisto_provider_mturk.accounts import build_provider, choose_requester

    settings = load_settings_or_explain()
    requester = choose_requester(settings.config_file, requester_name)
    return build_provider(settings.config_file, settings.data_dir, requester), requester


@click.group(cls=_MTurkGroup)
def mturk() -> None:
    """Amazon Mechanical Turk (provider types `mturk` and `mturk_sandbox`): balance, HITs, cleanup, messages.

    Each command acts as one registered requester (`--requester NAME`; the only one when there is one).
    """


@mturk.command("balance")
@requester_option
def balance(requester_name: str | None) -> None:
    """Print the requester's available balance at MTurk."""
    provider, requester = _provider(requester_name)
    where = "sandbox" if provider.is_sandbox else "live"
    click.echo(f"{requester.name} ({where}): ${provider.balance()} available")


@mturk.command("hits")
@requester_option
@click.option("--outstanding", is_flag=True, help="Only HITs still open to workers or with work in progress.")
@click.option("--run", "run_id", type=int, default=None, help="Only the HITs of this run.")
def hits(requester_name: str | None, outstanding: bool, run_id: int | None) -> None:
    """List the HITs this installation published (run, status, assignments pending / available / completed)."""
    provider, _ = _provider(requester_name)
    everything = provider.hits.all(fresh=True)
    ours = provider.hits.ours()
    others = len(everything) - len(ours)
    shown = 0
    statuses: Counter[str] = Counter()
    for note, hit in ours:
        if run_id is not None and note.run_id != run_id:
            continue
        pending = int(hit.get("NumberOfAssignmentsPending", 0))
        if outstanding and hit.get("HITStatus") != "Assignable" and pending == 0:
            continue
        shown += 1
        statuses[str(hit.get("HITStatus"))] += 1
        click.echo(
            f"{hit['HITId']}  run {note.run_id}  {hit.get('HITStatus')}  pending {pending}  "
            f"available {hit.get('NumberOfAssignmentsAvailable', 0)}  "
            f"completed {hit.get('NumberOfAssignmentsCompleted', 0)}  expires {hit.get('Expiration', '-')}"
        )
    summary = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none"
    click.echo(f"{shown} HIT(s) of this installation ({summary}); {others} other HIT(s) on the account not shown")


@mturk.command("cleanup")
@click.option("--dry-run", is_flag=True, help="Only list the open HITs of dead runs; expire nothing.")
@click.option("--yes", is_flag=True, help="Expire without asking (needed when there is no terminal).")
@click.pass_context
def cleanup(ctx: click.Context, dry_run: bool, yes: bool) -> None:
    """Expire the HITs still open of runs no launch serves (same as `mephisto cleanup --provider mturk[_sandbox]`)."""
    root = ctx.find_root().command
    core_cleanup = root.get_command(ctx, "cleanup") if isinstance(root, click.Group) else None
    if core_cleanup is None:
        raise MephistoError("this mephisto has no `cleanup` command to run")
    for provider_type in ("mturk", "mturk_sandbox"):
        click.echo(f"== {provider_type}")
        ctx.invoke(core_cleanup, dry_run=dry_run, provider_type=provider_type, yes=yes)


@mturk.command("notify")
@requester_option
@click.argument("worker_ids", nargs=-1, required=True, metavar="WORKER_ID...")
@click.option("--subject", required=True, help="Subject line (at most 200 characters).")
@click.option("--message", required=True, help="The text (at most 4096 characters).")
def notify(requester_name: str | None, worker_ids: tuple[str, ...], subject: str, message: str) -> None:
    """E-mail workers through MTurk (they must have worked for this requester)."""
    provider, _ = _provider(requester_name)
    failures = provider.notify_workers(list(worker_ids), subject, message)
    sent = len(worker_ids) - len(failures)
    click.echo(f"sent to {sent} of {len(worker_ids)} worker(s)")
    for failure in failures:
        click.echo(f"not sent: {failure}", err=True)
    if failures:
        raise MephistoError(f"{len(failures)} message(s) were not delivered (see above)")
