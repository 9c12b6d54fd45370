"""The `[architect]` section of a task that uses `type = "ec2"`."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from mephisto_core.abstractions import ArchitectArgs

_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_DOMAIN = re.compile(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


class Ec2ArchitectArgs(ArchitectArgs):
    """Where in AWS the router's instance goes and how workers reach it (`https://SUBDOMAIN.DOMAIN/`).

    The load balancer, its HTTPS listener and certificate, the hosted zone, the bucket, the subnet and the
    security group are made once by the researcher (see the plugin's README); each run adds its own instance,
    target group, listener rule and DNS record, and removes them at the end.
    """

    region: str | None = Field(
        default=None,
        description="AWS region, e.g. us-east-2. Unset: the region of your AWS profile or AWS_REGION.",
    )
    profile: str | None = Field(
        default=None,
        description="Name of the AWS profile (~/.aws/credentials) to use; unset: the normal AWS credential chain.",
    )
    ami_id: str = Field(
        description="The image the instance boots: Ubuntu 24.04 or Debian 12 (it needs python3 >= 3.11 and curl).",
        pattern=r"^ami-[0-9a-f]{8,17}$",
    )
    subnet_id: str = Field(
        description="Subnet of the instance, in the load balancer's VPC.", pattern=r"^subnet-[0-9a-f]+$"
    )
    security_group_id: str = Field(
        description="Security group of the instance; it must let the load balancer reach router_port.",
        pattern=r"^sg-[0-9a-f]+$",
    )
    instance_type: str = Field(default="t3.micro", description="EC2 instance type of the router's host.")
    key_name: str | None = Field(default=None, description="Optional EC2 key pair, to log in to the instance with ssh.")
    bucket: str = Field(description="An S3 bucket of yours; the router's wheel is uploaded there for the instance.")
    listener_arn: str = Field(
        description="ARN of the HTTPS listener (port 443, ACM certificate) of your Application Load Balancer.",
        pattern=r"^arn:aws[a-z-]*:elasticloadbalancing:",
    )
    domain: str = Field(description="Domain of your Route 53 hosted zone, e.g. tasks.example.org.")
    subdomain: str = Field(
        description="Workers open https://SUBDOMAIN.DOMAIN/; one DNS label (a-z, 0-9, -), unique per live task.",
    )
    router_port: int = Field(default=8080, ge=1024, le=65535, description="Port the router listens on in the instance.")
    wheel_path: Path | None = Field(
        default=None,
        description="A mephisto-core wheel to install on the instance; unset: built from the installed mephisto-core.",
    )
    keep_instance: bool = Field(
        default=False,
        description=(
            "Leave the instance running after the run (it keeps costing money) and reuse it for the next run of "
            "the same subdomain; `mephisto ec2 cleanup --kept` terminates it."
        ),
    )
    boot_timeout_seconds: float = Field(
        default=600, ge=30, le=3600, allow_inf_nan=False, description="How long to wait for a new instance's router."
    )
    probe_timeout_seconds: float = Field(
        default=10, gt=0, le=300, allow_inf_nan=False, description="Timeout of one request to the router."
    )
    give_up_after_seconds: float = Field(
        default=900,
        ge=0,
        le=86400,
        allow_inf_nan=False,
        description="Stop the run when the router has not answered for this long; 0 waits for ever.",
    )
    endpoint_url: str | None = Field(
        default=None,
        description="For testing only: send every AWS call to this URL (a moto server) instead of AWS.",
    )
    test_router_url: str | None = Field(
        default=None,
        description=(
            "For testing only: after provisioning, connect to the router at this URL (e.g. a local "
            "`mephisto router serve`) instead of https://SUBDOMAIN.DOMAIN/, with the deploy secret in "
            "MEPHISTO_ROUTER_SECRET (as the remote architect reads it)."
        ),
    )

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        value = value.strip().rstrip(".").lower()
        if not _DOMAIN.fullmatch(value):
            raise ValueError(f"{value!r} is not a domain name like tasks.example.org")
        return value

    @field_validator("subdomain")
    @classmethod
    def _subdomain(cls, value: str) -> str:
        value = value.strip().lower()
        if not _DNS_LABEL.fullmatch(value):
            raise ValueError(
                f"{value!r} is not one DNS label: 1 to 63 of a-z, 0-9 and -, not starting or ending with -"
            )
        return value

    @field_validator("endpoint_url", "test_router_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s):// URL")
        return value if value.endswith("/") else value + "/"

    @property
    def hostname(self) -> str:
        """The public host name workers open."""
        return f"{self.subdomain}.{self.domain}"

    @property
    def public_url(self) -> str:
        """The public base URL workers open."""
        return f"https://{self.hostname}/"
