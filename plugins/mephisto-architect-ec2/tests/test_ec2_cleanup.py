"""Leftovers: an operator process killed with SIGKILL after deploying leaves tagged resources in AWS (a moto
server); `mephisto ec2 cleanup --dry-run` and `mephisto cleanup --dry-run` list them, `mephisto ec2 cleanup --yes`
removes them, and describing shows nothing left. Also what tags alone find when the record is gone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from ec2_router_process import RouterProcess, router_serving
from ec2_world import BUCKET, DOMAIN, REGION, World
from mephisto_architect_ec2.leftovers import Ec2Cleaner, find_deployments
from mephisto_architect_ec2.records import load_records, records_dir

from mephisto_core.settings import Settings

HERE = Path(__file__).parent


@pytest.fixture
def router(tmp_path: Path) -> RouterProcess:
    with router_serving(tmp_path / "router-data") as process:
        yield process


def mephisto(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mephisto_core.cli", *args], env=env, capture_output=True, text=True, timeout=180
    )


def deploy_then_kill(world: World, moto_server: str, settings: Settings, router: RouterProcess, wheel: Path) -> str:
    """Deploy run 7 in another process, then kill it with SIGKILL; return the deployment id."""
    section = world.architect_section(endpoint_url=moto_server, wheel_path=str(wheel), test_router_url=router.url)
    command = [sys.executable, str(HERE / "ec2_deploy_and_hang.py"), json.dumps(section), str(settings.runs_dir), "7"]
    env = {**os.environ, "MEPHISTO_ROUTER_SECRET": router.secret}
    process = subprocess.Popen(
        [*command, "the-operators-per-run-secret-0123"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("DEPLOYED "), process.stderr.read() if process.poll() is not None else line
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    return line.split()[1]


def clients(endpoint: str) -> tuple[object, ...]:
    return tuple(boto3.client(s, region_name=REGION, endpoint_url=endpoint) for s in ("ec2", "elbv2", "route53", "s3"))


def test_a_killed_operators_resources_are_listed_then_removed(
    server_world: World,
    moto_server: str,
    mephisto_settings: Settings,
    mephisto_cli_env: dict[str, str],
    router: RouterProcess,
    core_wheel: Path,
) -> None:
    deployment_id = deploy_then_kill(server_world, moto_server, mephisto_settings, router, core_wheel)
    [record] = load_records(mephisto_settings.data_dir)
    assert record.deployment_id == deployment_id and record.instance_id and record.rule_arn

    listed = mephisto(mephisto_cli_env, "ec2", "cleanup", "--dry-run")
    assert listed.returncode == 0, listed.stderr
    assert (
        f"run 7: ec2 deployment {deployment_id} of my-task in {REGION}: instance {record.instance_id}" in listed.stdout
    )
    assert (
        f"DNS record my-task.{DOMAIN}" in listed.stdout and "about $0.0104/hour (t3.micro, on-demand)" in listed.stdout
    )
    assert "1 deployment(s) left behind" in listed.stdout
    core_listed = mephisto(mephisto_cli_env, "cleanup", "--dry-run")
    assert core_listed.returncode == 0, core_listed.stderr
    assert "architect ec2" in core_listed.stdout and deployment_id in core_listed.stdout
    status = mephisto(mephisto_cli_env, "ec2", "status")
    assert f"run 7 (left behind): ec2 deployment {deployment_id}" in status.stdout

    unasked = mephisto(mephisto_cli_env, "ec2", "cleanup")  # no terminal to confirm on: nothing is removed
    assert unasked.returncode == 1 and "Run with --yes" in unasked.stderr
    assert len(load_records(mephisto_settings.data_dir)) == 1

    removed = mephisto(mephisto_cli_env, "ec2", "cleanup", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert f"Removed: deployment {deployment_id} of run 7: deleted the DNS record my-task.{DOMAIN}" in removed.stdout
    assert f"terminated the instance {record.instance_id}" in removed.stdout

    ec2, elbv2, route53, s3 = clients(moto_server)
    state = ec2.describe_instances(InstanceIds=[record.instance_id])["Reservations"][0]["Instances"][0]["State"]  # type: ignore[attr-defined]
    assert state["Name"] in ("shutting-down", "terminated")
    assert [g["TargetGroupName"] for g in elbv2.describe_target_groups()["TargetGroups"]] == ["lab-default"]  # type: ignore[attr-defined]
    assert [r["IsDefault"] for r in elbv2.describe_rules(ListenerArn=server_world.listener_arn)["Rules"]] == [True]  # type: ignore[attr-defined]
    names = [
        r["Name"] for r in route53.list_resource_record_sets(HostedZoneId=server_world.zone_id)["ResourceRecordSets"]
    ]  # type: ignore[attr-defined]
    assert f"my-task.{DOMAIN}." not in names
    assert s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) == []  # type: ignore[attr-defined]
    assert load_records(mephisto_settings.data_dir) == []
    again = mephisto(mephisto_cli_env, "ec2", "cleanup", "--dry-run")
    assert "Nothing left behind in AWS." in again.stdout


def test_tags_find_what_the_record_no_longer_names(
    server_world: World, moto_server: str, mephisto_settings: Settings, router: RouterProcess, core_wheel: Path
) -> None:
    deployment_id = deploy_then_kill(server_world, moto_server, mephisto_settings, router, core_wheel)
    [record] = load_records(mephisto_settings.data_dir)
    # e.g. the data dir was restored from an older backup: no record, no list of regions deployed to
    shutil.rmtree(records_dir(mephisto_settings.data_dir).parent)
    from mephisto_architect_ec2.aws import AwsTarget

    assert find_deployments(mephisto_settings.data_dir) == []  # no record names a region to look in
    [found] = find_deployments(mephisto_settings.data_dir, [AwsTarget(REGION, None, moto_server)])
    assert found.deployment_id == deployment_id and found.run_id == 7
    assert (found.instance_id, found.target_group_arn, found.rule_arn) == (
        record.instance_id,
        record.target_group_arn,
        record.rule_arn,
    )
    assert found.dns is None and found.object_keys == []  # only the record knew these


def test_the_cleaner_leaves_live_runs_alone_and_removes_the_rest(
    server_world: World, moto_server: str, mephisto_settings: Settings, router: RouterProcess, core_wheel: Path
) -> None:
    from mephisto_core.abstractions import CleanupScope

    deployment_id = deploy_then_kill(server_world, moto_server, mephisto_settings, router, core_wheel)
    data_dir = mephisto_settings.data_dir

    def scope(live: bool) -> CleanupScope:
        return CleanupScope(None, data_dir, mephisto_settings.runs_dir, None, lambda run_id: live)  # type: ignore[arg-type]

    cleaner = Ec2Cleaner()
    assert cleaner.find(scope(live=True)) == []
    [leftover] = cleaner.find(scope(live=False))
    assert (leftover.kind, leftover.type_name, leftover.run_id) == ("architect", "ec2", 7)
    assert deployment_id in leftover.what
    from mephisto_core.errors import MephistoError

    with pytest.raises(MephistoError, match="served by a running launch again"):
        cleaner.remove(scope(live=True), leftover)
    message = cleaner.remove(scope(live=False), leftover)
    assert message.startswith(f"deployment {deployment_id} of run 7: deleted the DNS record")
    assert cleaner.find(scope(live=False)) == []


def test_a_region_that_cannot_be_searched_still_lists_its_records(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mephisto_architect_ec2.records import DeploymentRecord

    data_dir = tmp_path / "data"
    record = DeploymentRecord(
        "r3-deadbeef", 3, "my-task", "another-host:/old/data", {"region": REGION, "profile": "gone-profile"}, BUCKET, ""
    )
    record.instance_id, record.instance_created, record.instance_type = "i-0123456789abcdef0", True, "t3.small"
    record.save(data_dir)
    [found] = find_deployments(data_dir)
    assert found.deployment_id == "r3-deadbeef"
    assert "could not search us-east-2 for ec2 deployments" in caplog.text and "'gone-profile' is not in" in caplog.text
