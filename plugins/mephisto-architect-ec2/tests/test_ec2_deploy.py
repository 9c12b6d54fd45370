"""deploy and shutdown against moto in this process: every resource made with the right parameters and tags, the
channel connected to a real router (the test hook), and everything deleted at shutdown, checked by describing."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from ec2_router_process import RouterProcess, router_serving
from ec2_world import BUCKET, DOMAIN, REGION, World
from mephisto_architect_ec2.architect import Ec2Architect
from mephisto_architect_ec2.args import Ec2ArchitectArgs
from mephisto_architect_ec2.leftovers import Ec2Cleaner
from mephisto_architect_ec2.records import created_by, load_records, records_dir

from mephisto_core.abstractions import CleanupScope
from mephisto_core.errors import ConfigError

RUN_ID = 7


@pytest.fixture
def router(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RouterProcess]:
    """The stand-in router; its secret where the test hook reads it."""
    with router_serving(tmp_path / "router-data") as process:
        monkeypatch.setenv("MEPHISTO_ROUTER_SECRET", process.secret)
        yield process


def make_architect(
    world: World, data_dir: Path, router: RouterProcess, wheel: Path, **overrides: object
) -> Ec2Architect:
    section = world.architect_section(wheel_path=str(wheel), test_router_url=router.url, **overrides)
    architect = Ec2Architect(Ec2ArchitectArgs(**section), data_dir / "runs")
    architect.boot_poll_s = 0.1
    return architect


def build_dir(data_dir: Path, run_id: int = RUN_ID) -> Path:
    folder = data_dir / "runs" / str(run_id) / "build"
    folder.mkdir(parents=True)
    (folder / "index.html").write_text("<p>task</p>", encoding="utf-8")
    return folder


def tags_of(pairs: list[dict[str, str]]) -> dict[str, str]:
    return {p["Key"]: p["Value"] for p in pairs}


def test_deploy_creates_tagged_resources_connects_and_shutdown_removes_them(
    world: World, tmp_path: Path, router: RouterProcess, core_wheel: Path
) -> None:
    data_dir = tmp_path / "data"
    architect = make_architect(world, data_dir, router, core_wheel)
    run_secret = "the-operators-per-run-secret-0123"
    deployment = asyncio.run(architect.deploy(build_dir(data_dir), run_secret))

    # Connected the remote architect's way, to the router the test hook names.
    assert deployment.worker_url == router.url
    assert deployment.channel_url == router.url.replace("http://", "ws://").rstrip("/") + "/_channel"
    assert deployment.channel_secret == router.secret and deployment.push_build
    assert architect.router_info is not None and architect.router_info.protocol >= 1

    record = architect.record
    assert record is not None
    expected_tags = {
        "mephisto:run-id": str(RUN_ID),
        "mephisto:task": "my-task",
        "mephisto:created-by": created_by(data_dir),
        "mephisto:deployment": record.deployment_id,
    }
    ec2, elbv2 = boto3.client("ec2", region_name=REGION), boto3.client("elbv2", region_name=REGION)
    route53, s3 = boto3.client("route53", region_name=REGION), boto3.client("s3", region_name=REGION)

    [instance] = ec2.describe_instances(InstanceIds=[record.instance_id])["Reservations"][0]["Instances"]
    assert instance["State"]["Name"] == "running"
    assert (instance["ImageId"], instance["InstanceType"], instance["SubnetId"]) == (
        world.ami_id,
        "t3.micro",
        world.subnet_id,
    )
    assert [g["GroupId"] for g in instance["SecurityGroups"]] == [world.instance_sg]
    assert tags_of(instance["Tags"]) == {**expected_tags, "Name": f"mephisto-{record.deployment_id}"}
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    user_data = ec2.describe_instance_attribute(InstanceId=record.instance_id, Attribute="userData")
    script = base64.b64decode(user_data["UserData"]["Value"]).decode()
    assert script.startswith("#!/bin/bash") and core_wheel.name in script and run_secret not in script
    assert f"--public-url https://my-task.{DOMAIN}/" in script

    [group] = elbv2.describe_target_groups(TargetGroupArns=[record.target_group_arn])["TargetGroups"]
    assert (group["Protocol"], group["Port"], group["VpcId"]) == ("HTTP", 8080, world.vpc_id)
    assert group["HealthCheckPath"] == "/__mephisto/version"
    health = elbv2.describe_target_health(TargetGroupArn=record.target_group_arn)["TargetHealthDescriptions"]
    assert [(h["Target"]["Id"], h["Target"]["Port"]) for h in health] == [(record.instance_id, 8080)]
    group_tags = elbv2.describe_tags(ResourceArns=[record.target_group_arn])["TagDescriptions"][0]["Tags"]
    assert tags_of(group_tags) == expected_tags

    [rule] = elbv2.describe_rules(RuleArns=[record.rule_arn])["Rules"]
    assert rule["Conditions"][0]["Field"] == "host-header"
    assert rule["Conditions"][0]["HostHeaderConfig"]["Values"] == [f"my-task.{DOMAIN}"]
    assert rule["Actions"][0]["TargetGroupArn"] == record.target_group_arn
    assert tags_of(elbv2.describe_tags(ResourceArns=[record.rule_arn])["TagDescriptions"][0]["Tags"]) == expected_tags

    records = route53.list_resource_record_sets(HostedZoneId=world.zone_id)["ResourceRecordSets"]
    [alias] = [r for r in records if r["Name"] == f"my-task.{DOMAIN}."]
    assert alias["Type"] == "A" and alias["AliasTarget"]["DNSName"].rstrip(".").endswith(world.alb_dns)

    # The wheel stays (tagged) until shutdown; the secret's object is gone once the router answered.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [f"mephisto-ec2/{record.deployment_id}/{core_wheel.name}"]
    object_tags = tags_of(s3.get_object_tagging(Bucket=BUCKET, Key=keys[0])["TagSet"])
    assert object_tags == expected_tags
    assert s3.head_object(Bucket=BUCKET, Key=keys[0])["ServerSideEncryption"] == "AES256"

    # The record names all of it, readable by the user only.
    [path] = records_dir(data_dir).glob("*.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["instance_id"] == record.instance_id and saved["dns"]["name"] == f"my-task.{DOMAIN}"

    asyncio.run(architect.shutdown())

    state = ec2.describe_instances(InstanceIds=[record.instance_id])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] in ("shutting-down", "terminated")
    assert elbv2.describe_target_groups(Names=[], LoadBalancerArn=world.alb_arn)["TargetGroups"] == [] or all(
        g["TargetGroupArn"] != record.target_group_arn for g in elbv2.describe_target_groups()["TargetGroups"]
    )
    assert all(r["RuleArn"] != record.rule_arn for r in elbv2.describe_rules(ListenerArn=world.listener_arn)["Rules"])
    names = [r["Name"] for r in route53.list_resource_record_sets(HostedZoneId=world.zone_id)["ResourceRecordSets"]]
    assert f"my-task.{DOMAIN}." not in names
    assert s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) == []
    assert load_records(data_dir) == []
    asyncio.run(architect.shutdown())  # twice is harmless


def test_a_failed_connect_removes_what_was_made(
    world: World, tmp_path: Path, router: RouterProcess, core_wheel: Path
) -> None:
    data_dir = tmp_path / "data"
    architect = make_architect(world, data_dir, router, core_wheel)
    os.environ["MEPHISTO_ROUTER_SECRET"] = "not-the-routers-secret-at-all"  # restored by monkeypatch
    with pytest.raises(ConfigError):
        asyncio.run(architect.deploy(build_dir(data_dir), "the-operators-per-run-secret-0123"))
    ec2 = boto3.client("ec2", region_name=REGION)
    states = [
        i["State"]["Name"]
        for r in ec2.describe_instances(Filters=[{"Name": "tag:mephisto:run-id", "Values": [str(RUN_ID)]}])[
            "Reservations"
        ]
        for i in r["Instances"]
    ]
    assert states and all(s in ("shutting-down", "terminated") for s in states)
    assert [
        g["TargetGroupName"] for g in boto3.client("elbv2", region_name=REGION).describe_target_groups()["TargetGroups"]
    ] == ["lab-default"]
    assert load_records(data_dir) == []


def test_a_host_name_served_by_another_rule_is_refused(
    world: World, tmp_path: Path, router: RouterProcess, core_wheel: Path
) -> None:
    elbv2 = boto3.client("elbv2", region_name=REGION)
    default = elbv2.describe_target_groups(Names=["lab-default"])["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_rule(
        ListenerArn=world.listener_arn,
        Priority=1,
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": [f"my-task.{DOMAIN}"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": default}],
    )
    data_dir = tmp_path / "data"
    architect = make_architect(world, data_dir, router, core_wheel)
    with pytest.raises(ConfigError, match=f"my-task.{DOMAIN} is already served by the listener rule"):
        asyncio.run(architect.deploy(build_dir(data_dir), router.secret))
    # Nothing was launched for it.
    assert boto3.client("ec2", region_name=REGION).describe_instances()["Reservations"] == []


def test_a_resumed_run_first_removes_what_its_dead_launch_left(
    world: World, tmp_path: Path, router: RouterProcess, core_wheel: Path
) -> None:
    data_dir = tmp_path / "data"
    first = make_architect(world, data_dir, router, core_wheel)
    folder = build_dir(data_dir)
    asyncio.run(first.deploy(folder, router.secret))
    old = first.record
    assert old is not None
    # The launch was killed (no shutdown); the next launch of the run deploys again, with the same host name.
    second = make_architect(world, data_dir, router, core_wheel)
    asyncio.run(second.deploy(folder, router.secret))
    assert second.record is not None and second.record.deployment_id != old.deployment_id
    ec2 = boto3.client("ec2", region_name=REGION)
    old_state = ec2.describe_instances(InstanceIds=[old.instance_id])["Reservations"][0]["Instances"][0]["State"]
    assert old_state["Name"] in ("shutting-down", "terminated")
    assert [r.deployment_id for r in load_records(data_dir)] == [second.record.deployment_id]
    asyncio.run(second.shutdown())


def test_a_kept_instance_is_reused_by_the_next_run(
    world: World, tmp_path: Path, router: RouterProcess, core_wheel: Path
) -> None:
    data_dir = tmp_path / "data"
    first = make_architect(world, data_dir, router, core_wheel, keep_instance=True)
    asyncio.run(first.deploy(build_dir(data_dir, 1), "run-1-per-run-secret-0123456789"))
    assert first.record is not None
    kept = first.record.instance_id
    asyncio.run(first.shutdown())
    ec2 = boto3.client("ec2", region_name=REGION)
    instance = ec2.describe_instances(InstanceIds=[kept])["Reservations"][0]["Instances"][0]
    assert instance["State"]["Name"] == "running" and tags_of(instance["Tags"])["mephisto:keep"] == "true"

    # The kept router keeps the secret it was installed with (run 1's), stored privately for the next runs.
    secret_file = data_dir / "architects" / "ec2" / "kept" / f"{kept}.secret"
    assert secret_file.read_text() == "run-1-per-run-secret-0123456789"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600

    second = make_architect(world, data_dir, router, core_wheel, keep_instance=True)
    asyncio.run(second.deploy(build_dir(data_dir, 2), "run-2-per-run-secret-0123456789"))
    assert second.record is not None and second.record.instance_id == kept
    assert second.record.object_keys == []  # nothing uploaded: the instance has its router
    assert (
        tags_of(ec2.describe_instances(InstanceIds=[kept])["Reservations"][0]["Instances"][0]["Tags"])[
            "mephisto:run-id"
        ]
        == "2"
    )
    assert len(ec2.describe_instances()["Reservations"]) == 1
    asyncio.run(second.shutdown())
    assert ec2.describe_instances(InstanceIds=[kept])["Reservations"][0]["Instances"][0]["State"]["Name"] == "running"

    # `mephisto cleanup` leaves a kept instance alone; `mephisto ec2 cleanup --kept` terminates it.
    scope = CleanupScope(None, data_dir, data_dir / "runs", None, lambda run_id: False)  # type: ignore[arg-type]
    assert Ec2Cleaner().find(scope) == []
    [leftover] = Ec2Cleaner(include_kept=True).find(scope)
    assert kept in leftover.what and leftover.run_id == 2
    Ec2Cleaner(include_kept=True).remove(scope, leftover)
    assert ec2.describe_instances(InstanceIds=[kept])["Reservations"][0]["Instances"][0]["State"]["Name"] in (
        "shutting-down",
        "terminated",
    )
    assert not secret_file.exists()


def test_an_instance_the_balancer_never_finds_healthy_fails_the_deploy_and_is_removed(
    world: World, tmp_path: Path, router: RouterProcess, core_wheel: Path
) -> None:
    from mephisto_core.errors import MephistoError

    data_dir = tmp_path / "data"
    architect = make_architect(world, data_dir, router, core_wheel)
    provisioner, _ = architect._provision(RUN_ID, "the-operators-per-run-secret-0123")
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.stop_instances(InstanceIds=[provisioner.record.instance_id])  # as if its router never came up
    architect.ec2_args.boot_timeout_seconds = 0.5  # not through validation: a test needs no 30 s wait
    with pytest.raises(
        MephistoError, match=r"the load balancer still finds instance i-\w+ unused \(Target.InvalidState\)"
    ):
        asyncio.run(architect._wait_for_router(provisioner, router.url))
    asyncio.run(architect.shutdown())
    assert load_records(data_dir) == []
    assert boto3.client("elbv2", region_name=REGION).describe_rules(ListenerArn=world.listener_arn)["Rules"][0][
        "IsDefault"
    ]
