"""A real `mephisto check` and `mephisto launch --simulate` of the static template with `[architect] type = "ec2"`:
the operator is its own process, AWS is a moto server on 127.0.0.1 (architect.endpoint_url), and the channel goes
to a real `mephisto router serve` (architect.test_router_url) since moto boots no instance. The launch provisions,
pushes the task, simulated workers finish it, and at the end nothing it made is left in AWS."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from ec2_router_process import RouterProcess, router_serving
from ec2_world import BUCKET, REGION, World
from mephisto_architect_ec2.records import load_records

from mephisto_core.settings import Settings
from mephisto_core.testing.processes import LaunchProcess, run_mephisto


@pytest.fixture
def router(tmp_path: Path, mephisto_cli_env: dict[str, str]) -> Iterator[RouterProcess]:
    with router_serving(tmp_path / "router-data") as process:
        mephisto_cli_env["MEPHISTO_ROUTER_SECRET"] = process.secret
        yield process


def use_ec2(task_toml: Path, section: dict[str, object]) -> None:
    """Replace the template's [architect] section with an ec2 one."""
    text = task_toml.read_text(encoding="utf-8")
    start, end = text.index("[architect]"), text.index("[provider]")
    lines = ["[architect]", 'type = "ec2"'] + [f"{key} = {json.dumps(value)}" for key, value in section.items()]
    task_toml.write_text(text[:start] + "\n".join(lines) + "\n\n" + text[end:], encoding="utf-8")


def test_launch_provisions_serves_through_the_router_and_removes_everything(
    mephisto_init: Callable[..., Path],
    mephisto_launch: Callable[..., LaunchProcess],
    mephisto_cli_env: dict[str, str],
    mephisto_settings: Settings,
    server_world: World,
    moto_server: str,
    router: RouterProcess,
    core_wheel: Path,
) -> None:
    task = mephisto_init("static")
    section = server_world.architect_section(
        endpoint_url=moto_server, wheel_path=str(core_wheel), test_router_url=router.url, boot_timeout_seconds=60
    )
    use_ec2(task, section)

    checked = run_mephisto("check", task, env=mephisto_cli_env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    launch = mephisto_launch(task, "--simulate", "2", "--no-panel")
    assert launch.wait_for_link(timeout=120).startswith(router.url)
    [record] = load_records(mephisto_settings.data_dir)  # while the run goes on, its resources are on record
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_server)
    assert (
        ec2.describe_instances(InstanceIds=[record.instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]
        == "running"
    )
    assert launch.wait(120) == 0, launch.output()
    assert "units are done" in launch.output()
    assert router.secret not in launch.output()

    # The shutdown removed it all (and said so), and the end-of-launch leftover check found nothing.
    assert load_records(mephisto_settings.data_dir) == []
    state = ec2.describe_instances(InstanceIds=[record.instance_id])["Reservations"][0]["Instances"][0]["State"]
    assert state["Name"] in ("shutting-down", "terminated")
    elbv2 = boto3.client("elbv2", region_name=REGION, endpoint_url=moto_server)
    assert [g["TargetGroupName"] for g in elbv2.describe_target_groups()["TargetGroups"]] == ["lab-default"]
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_server)
    assert s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) == []
    listed = run_mephisto("ec2", "cleanup", "--dry-run", env=mephisto_cli_env)
    assert "Nothing left behind in AWS." in listed.stdout


def test_check_names_a_missing_prerequisite(
    mephisto_init: Callable[..., Path], mephisto_cli_env: dict[str, str], server_world: World, moto_server: str
) -> None:
    task = mephisto_init("static")
    use_ec2(task, server_world.architect_section(endpoint_url=moto_server, bucket="nobody-made-this-bucket"))
    checked = run_mephisto("check", task, env=mephisto_cli_env)
    assert checked.returncode != 0
    assert "the S3 bucket nobody-made-this-bucket does not exist" in checked.stdout + checked.stderr
