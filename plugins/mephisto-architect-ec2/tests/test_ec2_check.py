"""check(): one sentence per missing AWS prerequisite, against moto."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from ec2_world import BUCKET, DOMAIN, REGION, World, build_world
from mephisto_architect_ec2.architect import Ec2Architect
from mephisto_architect_ec2.args import Ec2ArchitectArgs
from mephisto_architect_ec2.aws import AwsClients, AwsTarget
from mephisto_architect_ec2.prerequisites import check_prerequisites

from mephisto_core.errors import ConfigError


def problems(world: World, **overrides: object) -> list[str]:
    args = Ec2ArchitectArgs(**world.architect_section(**overrides))
    return check_prerequisites(AwsClients(AwsTarget(args.region, args.profile)), args)


def test_a_ready_account_has_no_problems(world: World, tmp_path: Path) -> None:
    assert problems(world) == []
    architect = Ec2Architect(Ec2ArchitectArgs(**world.architect_section()), tmp_path / "runs")
    architect.check()  # raises nothing
    assert architect.serves_public_https()


def test_missing_region_is_one_sentence(world: World) -> None:
    found = problems(world, region=None)
    assert found == ["no AWS region is set: set architect.region (e.g. us-east-2), AWS_REGION, or a profile's region"]


def test_missing_credentials_say_how_to_configure(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    [problem] = problems(world)
    assert problem.startswith("no valid AWS credentials") and "aws configure" in problem


def test_unknown_profile_is_a_config_error(world: World) -> None:
    with pytest.raises(ConfigError, match="the AWS profile 'nobody' is not in"):
        problems(world, profile="nobody")


def test_each_missing_resource_is_named(world: World) -> None:
    found = problems(
        world,
        ami_id="ami-0123456789abcdef0",
        subnet_id="subnet-0123456789",
        security_group_id="sg-0123456789",
        bucket="no-such-bucket-here",
        domain="elsewhere.example.net",
    )
    assert f"the AMI ami-0123456789abcdef0 does not exist in {REGION} (AMI ids differ per region)" in found
    assert f"the subnet subnet-0123456789 does not exist in {REGION}" in found
    assert f"the security group sg-0123456789 does not exist in {REGION}" in found
    assert "the S3 bucket no-such-bucket-here does not exist: create it, or fix architect.bucket" in found
    assert any(p.startswith("there is no public Route 53 hosted zone for elsewhere.example.net") for p in found)
    # The certificate covers *.tasks.example.org, not the other domain.
    assert any(
        p.startswith("no issued certificate of the HTTPS listener covers my-task.elsewhere.example.net") for p in found
    )
    assert len(found) == 6, found


def test_missing_listener_is_named(world: World) -> None:
    arn = world.listener_arn[:-4] + "0000"
    found = problems(world, listener_arn=arn)
    assert found == [
        f"the load balancer listener {arn} does not exist in {REGION}: create an Application Load Balancer with an "
        "HTTPS listener (see the plugin's README)"
    ]


def test_security_group_closed_to_the_balancer_is_named() -> None:
    from moto import mock_aws

    with mock_aws():
        world = build_world(allow_alb=False)
        found = problems(world)
    assert found == [
        f"the security group {world.instance_sg} does not let the load balancer reach port 8080: add an inbound TCP "
        "rule for that port from the load balancer's security group"
    ]


def test_a_security_group_open_to_the_vpc_range_is_enough() -> None:
    from moto import mock_aws

    with mock_aws():
        world = build_world(allow_alb=False)
        boto3.client("ec2", region_name=REGION).authorize_security_group_ingress(
            GroupId=world.instance_sg, IpProtocol="tcp", FromPort=8000, ToPort=9000, CidrIp="10.20.0.0/16"
        )
        assert problems(world) == []


def test_plain_http_listener_is_refused() -> None:
    from moto import mock_aws

    with mock_aws():
        world = build_world(https=False)
        found = problems(world)
    assert len(found) == 1 and found[0].startswith(f"the listener {world.listener_arn} speaks HTTP, not HTTPS")


def test_subnet_outside_the_balancers_vpc_is_named(world: World) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    other_vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
    found = problems(world, subnet_id=subnet)
    assert found == [
        f"the subnet {subnet} is in {other_vpc}, the load balancer in {world.vpc_id}: pick a subnet of the load "
        "balancer's VPC"
    ]


def test_check_raises_one_config_error_listing_every_problem(world: World, tmp_path: Path) -> None:
    args = Ec2ArchitectArgs(**world.architect_section(bucket="missing-bucket-1", ami_id="ami-0123456789abcdef0"))
    with pytest.raises(ConfigError) as caught:
        Ec2Architect(args, tmp_path / "runs").check()
    assert caught.value.key == "architect"
    lines = [line for line in str(caught.value).splitlines() if line.startswith("- ")]
    assert len(lines) == 2, str(caught.value)


def test_quota_check_is_skipped_where_service_quotas_cannot_answer(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="mephisto_architect_ec2.prerequisites")
    assert problems(world) == []
    assert "the EC2 instance quota was not checked" in caplog.text  # moto knows no EC2 quotas


def test_args_refuse_what_aws_would_refuse(world: World) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="is not one DNS label"):
        Ec2ArchitectArgs(**world.architect_section(subdomain="My_Task"))
    with pytest.raises(ValidationError, match="ami_id"):
        Ec2ArchitectArgs(**world.architect_section(ami_id="ubuntu"))
    with pytest.raises(ValidationError, match="not a domain name"):
        Ec2ArchitectArgs(**world.architect_section(domain="localhost"))
    args = Ec2ArchitectArgs(**world.architect_section(domain="Tasks.Example.org."))
    assert args.public_url == f"https://my-task.{DOMAIN}/"
    assert args.bucket == BUCKET


def test_numeric_args_are_bounded() -> None:
    from mephisto_core.testing import unbounded_numeric_fields

    assert unbounded_numeric_fields(Ec2ArchitectArgs) == []
