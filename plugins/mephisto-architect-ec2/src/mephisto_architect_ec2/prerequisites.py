"""`check()`: is the AWS account ready? One sentence per missing prerequisite, saying what to do.

Read-only describe calls; each check that cannot run because an earlier one failed (no credentials, no
listener) is skipped rather than reported twice.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from mephisto_architect_ec2.args import Ec2ArchitectArgs
from mephisto_architect_ec2.aws import AwsClients, error_code
from mephisto_architect_ec2.provision import find_hosted_zone

logger = logging.getLogger(__name__)

#: Service Quotas code of "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances" (in vCPUs).
STANDARD_VCPU_QUOTA = "L-1216C47A"


def check_prerequisites(clients: AwsClients, args: Ec2ArchitectArgs) -> list[str]:
    """Every problem found, one sentence each; empty when the account is ready."""
    if not clients.region:
        return ["no AWS region is set: set architect.region (e.g. us-east-2), AWS_REGION, or a profile's region"]
    try:
        clients.client("sts").get_caller_identity()
    except Exception as exc:
        if type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError") or error_code(exc) in (
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "ExpiredToken",
        ):
            return [f"no valid AWS credentials ({exc}): run `aws configure` (or name a profile in architect.profile)"]
        raise
    problems: list[str] = []
    ec2 = clients.client("ec2")
    if not _exists(lambda: ec2.describe_images(ImageIds=[args.ami_id])["Images"]):
        problems.append(f"the AMI {args.ami_id} does not exist in {clients.region} (AMI ids differ per region)")
    subnets = _exists(lambda: ec2.describe_subnets(SubnetIds=[args.subnet_id])["Subnets"])
    if not subnets:
        problems.append(f"the subnet {args.subnet_id} does not exist in {clients.region}")
    groups = _exists(lambda: ec2.describe_security_groups(GroupIds=[args.security_group_id])["SecurityGroups"])
    if not groups:
        problems.append(f"the security group {args.security_group_id} does not exist in {clients.region}")
    balancer = _balancer_problems(clients, args, problems)
    if balancer is not None and subnets and subnets[0]["VpcId"] != balancer["VpcId"]:
        problems.append(
            f"the subnet {args.subnet_id} is in {subnets[0]['VpcId']}, the load balancer in {balancer['VpcId']}: "
            "pick a subnet of the load balancer's VPC"
        )
    if balancer is not None and groups and not _allows_balancer(groups[0], balancer, args.router_port, subnets):
        problems.append(
            f"the security group {args.security_group_id} does not let the load balancer reach port "
            f"{args.router_port}: add an inbound TCP rule for that port from the load balancer's security group"
        )
    if find_hosted_zone(clients, args.domain) is None:
        problems.append(
            f"there is no public Route 53 hosted zone for {args.domain}: create one, or fix architect.domain"
        )
    try:
        clients.client("s3").head_bucket(Bucket=args.bucket)
    except Exception as exc:
        code = error_code(exc)
        if code in ("404", "NoSuchBucket", "403", "AccessDenied"):
            what = "does not exist" if code in ("404", "NoSuchBucket") else "is not accessible with these credentials"
            problems.append(f"the S3 bucket {args.bucket} {what}: create it, or fix architect.bucket")
        else:
            raise
    problems.extend(_quota_problems(clients, args))
    return problems


def _exists(describe: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The described items, or [] when AWS says the id is unknown or malformed."""
    try:
        return describe()
    except Exception as exc:
        code = error_code(exc)
        if code.endswith(".NotFound") or code.endswith(".Malformed") or code == "InvalidAMIID.Unavailable":
            return []
        raise


def _balancer_problems(clients: AwsClients, args: Ec2ArchitectArgs, problems: list[str]) -> dict[str, Any] | None:
    """Check the listener (HTTPS, a certificate covering the host name); return its load balancer, if found."""
    elbv2 = clients.client("elbv2")
    try:
        listener = elbv2.describe_listeners(ListenerArns=[args.listener_arn])["Listeners"][0]
        balancer: dict[str, Any] = elbv2.describe_load_balancers(LoadBalancerArns=[listener["LoadBalancerArn"]])[
            "LoadBalancers"
        ][0]
    except Exception as exc:
        if error_code(exc) in ("ListenerNotFound", "LoadBalancerNotFound", "ValidationError"):
            problems.append(
                f"the load balancer listener {args.listener_arn} does not exist in {clients.region}: "
                "create an Application Load Balancer with an HTTPS listener (see the plugin's README)"
            )
            return None
        raise
    if balancer.get("Type", "application") != "application":
        problems.append(
            f"the listener {args.listener_arn} belongs to a {balancer['Type']} load balancer, not an application one"
        )
    if listener.get("Protocol") != "HTTPS":
        problems.append(
            f"the listener {args.listener_arn} speaks {listener.get('Protocol')}, not HTTPS: use the load balancer's "
            "HTTPS (443) listener"
        )
        return balancer
    certificates = [c["CertificateArn"] for c in listener.get("Certificates", []) if c.get("CertificateArn")]
    if not certificates:
        problems.append(
            f"the HTTPS listener {args.listener_arn} has no certificate: add an ACM certificate for *.{args.domain}"
        )
    elif not any(_certificate_covers(clients, arn, args.hostname) for arn in certificates):
        problems.append(
            f"no issued certificate of the HTTPS listener covers {args.hostname}: request an ACM certificate for "
            f"*.{args.domain} and add it to the listener"
        )
    return balancer


def _certificate_covers(clients: AwsClients, arn: str, hostname: str) -> bool:
    """True when the ACM certificate `arn` is issued and names `hostname` or a wildcard above it."""
    if ":acm:" not in arn:
        return True  # an IAM server certificate: ACM cannot describe it; the listener accepted it
    try:
        certificate = clients.client("acm").describe_certificate(CertificateArn=arn)["Certificate"]
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return False
        raise
    if certificate.get("Status") != "ISSUED":
        return False
    names = {certificate.get("DomainName", "")} | set(certificate.get("SubjectAlternativeNames", []))
    parent = hostname.split(".", 1)[1]
    return hostname in names or f"*.{parent}" in names


def _allows_balancer(group: dict[str, Any], balancer: dict[str, Any], port: int, subnets: list[dict[str, Any]]) -> bool:
    """True when an inbound rule of `group` admits TCP `port` from the balancer's security groups or addresses."""
    balancer_groups = set(balancer.get("SecurityGroups", []))
    for permission in group.get("IpPermissions", []):
        protocol = permission.get("IpProtocol")
        if protocol not in ("tcp", "-1"):
            continue
        if protocol == "tcp" and not permission.get("FromPort", 0) <= port <= permission.get("ToPort", -1):
            continue
        if any(pair.get("GroupId") in balancer_groups for pair in permission.get("UserIdGroupPairs", [])):
            return True
        for ip_range in permission.get("IpRanges", []):
            network = ipaddress.ip_network(ip_range.get("CidrIp", "255.255.255.255/32"), strict=False)
            vpc_cidr = subnets[0].get("CidrBlock") if subnets else None
            # The balancer's own addresses are in the VPC: a rule for the VPC's range (or wider) admits it.
            if network.prefixlen == 0 or (vpc_cidr and ipaddress.ip_network(vpc_cidr).subnet_of(network)):  # type: ignore[arg-type]
                return True
    return False


def _quota_problems(clients: AwsClients, args: Ec2ArchitectArgs) -> list[str]:
    """The on-demand vCPU quota leaves room for one more instance; skipped (logged) when it cannot be read."""
    try:
        quota = clients.client("service-quotas").get_service_quota(ServiceCode="ec2", QuotaCode=STANDARD_VCPU_QUOTA)
        limit = float(quota["Quota"]["Value"])
        vcpus = clients.client("ec2").describe_instance_types(InstanceTypes=[args.instance_type])["InstanceTypes"][0][
            "VCpuInfo"
        ]["DefaultVCpus"]
    except Exception as exc:
        logger.info("the EC2 instance quota was not checked (%s: %s)", type(exc).__name__, exc)
        return []
    if vcpus > limit:
        return [
            f"the account's on-demand vCPU quota in {clients.region} is {limit:g}, below the {vcpus} vCPUs of "
            f"{args.instance_type}: ask for more in Service Quotas ({STANDARD_VCPU_QUOTA})"
        ]
    return []
