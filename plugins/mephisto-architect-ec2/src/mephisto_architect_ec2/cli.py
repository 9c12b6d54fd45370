"""`mephisto ec2 status` and `mephisto ec2 cleanup`: the deployments this data dir made, and removing leftovers.

`mephisto cleanup` (every plugin's leftovers) covers ec2 deployments too; these commands add the AWS-specific
options: look in a region no record names (`--region`, e.g. after the data dir was lost), and kept instances.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import sys

import click

from mephisto_architect_ec2.aws import AwsTarget

#: A run whose owner has not beaten for this long is not served (the core's launch beats every 2 s).
STALE_AFTER_S = 10.0


def _targets(regions: tuple[str, ...], profile: str | None, endpoint_url: str | None) -> list[AwsTarget]:
    return [AwsTarget(region, profile, endpoint_url) for region in regions]


def _run_is_live(run_id: int) -> bool:
    """True while a launch serves the run: not completed, its owner beat recently and is not a dead local pid."""
    from mephisto_core.data_model import TaskRun

    run = TaskRun.get_or_none(TaskRun.id == run_id)
    if run is None or run.is_completed or run.owner is None or run.heartbeat_at is None:
        return False
    host, _, pid = str(run.owner).rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's process: it exists
    age = dt.datetime.now(dt.UTC).replace(tzinfo=None) - run.heartbeat_at
    return bool(age.total_seconds() < STALE_AFTER_S)


region_option = click.option(
    "--region", "regions", multiple=True, help="Also look in this region (repeatable), beyond those records name."
)
profile_option = click.option("--profile", default=None, help="AWS profile for --region (default: the AWS chain).")
endpoint_option = click.option("--endpoint-url", default=None, hidden=True, help="For testing: a moto server's URL.")


@click.group()
def ec2() -> None:
    """The ec2 architect: deployments this data dir made in AWS, and their cleanup."""


@ec2.command("status")
@region_option
@profile_option
@endpoint_option
def status(regions: tuple[str, ...], profile: str | None, endpoint_url: str | None) -> None:
    """List every deployment (live or left behind) with its resources, kept instances included."""
    from mephisto_architect_ec2.leftovers import cost, describe, find_deployments
    from mephisto_core.data_model import open_database
    from mephisto_core.settings import load_settings_or_explain

    settings = load_settings_or_explain()
    records = find_deployments(settings.data_dir, _targets(regions, profile, endpoint_url), include_kept=True)
    if not records:
        click.echo("No ec2 deployments.")
        return
    database = open_database(settings.database_url, settings.sqlite_path)
    try:
        for record in records:
            state = "live" if _run_is_live(record.run_id) else "left behind"
            click.echo(f"run {record.run_id} ({state}): {describe(record)} -- costs {cost(record)}")
    finally:
        database.close()


@ec2.command("cleanup")
@click.option("--dry-run", is_flag=True, help="Only list what runs no launch serves left in AWS; remove nothing.")
@click.option("--yes", is_flag=True, help="Remove without asking (needed when there is no terminal to ask on).")
@click.option("--kept", is_flag=True, help="Also terminate instances kept by keep_instance = true.")
@region_option
@profile_option
@endpoint_option
def cleanup(
    dry_run: bool, yes: bool, kept: bool, regions: tuple[str, ...], profile: str | None, endpoint_url: str | None
) -> None:
    """Remove the instances, target groups, listener rules, DNS records and S3 objects of runs no launch serves."""
    from mephisto_architect_ec2.leftovers import cost, describe, find_deployments, remove_deployment
    from mephisto_core.data_model import open_database
    from mephisto_core.errors import MephistoError
    from mephisto_core.settings import load_settings_or_explain

    settings = load_settings_or_explain()
    database = open_database(settings.database_url, settings.sqlite_path)
    try:
        targets = _targets(regions, profile, endpoint_url)
        found = [
            r for r in find_deployments(settings.data_dir, targets, include_kept=kept) if not _run_is_live(r.run_id)
        ]
        if not found:
            click.echo("Nothing left behind in AWS.")
            return
        for record in found:
            click.echo(f"run {record.run_id}: {describe(record)} -- costs {cost(record)}")
        if dry_run:
            click.echo(f"{len(found)} deployment(s) left behind; `mephisto ec2 cleanup` removes them.")
            return
        if not yes:
            if not sys.stdin.isatty():
                raise MephistoError("not removing anything: there is no terminal to confirm on. Run with --yes.")
            click.confirm(f"Remove these {len(found)} deployment(s)?", abort=True)
        failed = 0
        for record in found:
            if _run_is_live(record.run_id):  # a launch resumed the run since it was listed
                click.echo(f"NOT removed: run {record.run_id} is served by a launch again")
                failed += 1
                continue
            try:
                click.echo("Removed: " + remove_deployment(settings.data_dir, record))
            except Exception as exc:  # one failure must not stop the others; each is reported
                failed += 1
                click.echo(f"NOT removed: deployment {record.deployment_id}: {exc}")
    finally:
        database.close()
    if failed:
        raise MephistoError(f"{failed} of {len(found)} deployment(s) could not be removed (see above)")
