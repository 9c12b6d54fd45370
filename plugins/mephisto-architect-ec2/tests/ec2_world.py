"""The one-time AWS setup the README asks of a researcher, made in moto: VPC, subnets, security groups, an
Application Load Balancer with an HTTPS listener and an ACM certificate, a hosted zone and a bucket."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REGION = "us-east-2"
DOMAIN = "tasks.example.org"
BUCKET = "lab-mephisto-artifacts"


@dataclass
class World:
    """Ids of what the researcher made once."""

    ami_id: str
    vpc_id: str
    subnet_id: str
    instance_sg: str
    alb_sg: str
    alb_arn: str
    alb_dns: str
    listener_arn: str
    certificate_arn: str
    zone_id: str

    def architect_section(self, **overrides: Any) -> dict[str, Any]:
        """The `[architect]` section a task would have for this account."""
        section: dict[str, Any] = {
            "region": REGION,
            "ami_id": self.ami_id,
            "subnet_id": self.subnet_id,
            "security_group_id": self.instance_sg,
            "bucket": BUCKET,
            "listener_arn": self.listener_arn,
            "domain": DOMAIN,
            "subdomain": "my-task",
        }
        section.update(overrides)
        return section


def self_signed_pem(common_name: str) -> tuple[bytes, bytes]:
    """A certificate and key for `common_name` (ACM imports it as an issued certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def build_world(endpoint_url: str | None = None, *, allow_alb: bool = True, https: bool = True) -> World:
    """Make the researcher's one-time setup in the (moto) account."""

    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint_url)

    ec2, elbv2, acm, route53, s3 = (client(s) for s in ("ec2", "elbv2", "acm", "route53", "s3"))
    # The lab's own image (moto's thousands of public ones are not loaded: see conftest.py).
    ami_id = ec2.register_image(
        Name="ubuntu-24.04-lab", Architecture="x86_64", RootDeviceName="/dev/sda1", VirtualizationType="hvm"
    )["ImageId"]
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in ((1, "a"), (2, "b"))
    ]
    alb_sg = ec2.create_security_group(GroupName="lab-alb", Description="ALB", VpcId=vpc_id)["GroupId"]
    instance_sg = ec2.create_security_group(GroupName="lab-router", Description="router", VpcId=vpc_id)["GroupId"]
    if allow_alb:
        ec2.authorize_security_group_ingress(
            GroupId=instance_sg,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "UserIdGroupPairs": [{"GroupId": alb_sg}]}
            ],
        )
    balancer = elbv2.create_load_balancer(Name="lab-alb", Subnets=subnets, SecurityGroups=[alb_sg], Type="application")[
        "LoadBalancers"
    ][0]
    cert_pem, key_pem = self_signed_pem(f"*.{DOMAIN}")
    certificate_arn = acm.import_certificate(Certificate=cert_pem, PrivateKey=key_pem)["CertificateArn"]
    default_group = elbv2.create_target_group(Name="lab-default", Protocol="HTTP", Port=80, VpcId=vpc_id)[
        "TargetGroups"
    ][0]
    listener_params: dict[str, Any] = {
        "LoadBalancerArn": balancer["LoadBalancerArn"],
        "DefaultActions": [{"Type": "forward", "TargetGroupArn": default_group["TargetGroupArn"]}],
    }
    if https:
        listener_params.update(Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": certificate_arn}])
    else:
        listener_params.update(Protocol="HTTP", Port=80)
    listener_arn = elbv2.create_listener(**listener_params)["Listeners"][0]["ListenerArn"]
    zone_id = route53.create_hosted_zone(Name=DOMAIN, CallerReference="lab-zone")["HostedZone"]["Id"].rsplit("/", 1)[-1]
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return World(
        ami_id=ami_id,
        vpc_id=vpc_id,
        subnet_id=subnets[0],
        instance_sg=instance_sg,
        alb_sg=alb_sg,
        alb_arn=balancer["LoadBalancerArn"],
        alb_dns=balancer["DNSName"],
        listener_arn=listener_arn,
        certificate_arn=certificate_arn,
        zone_id=zone_id,
    )
