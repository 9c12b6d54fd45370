"""One place that makes boto3 clients: the profile, region and (for tests) endpoint of a task or a record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mephisto_core.errors import ConfigError


@dataclass(frozen=True)
class AwsTarget:
    """Which account and region to talk to: an AWS profile (None: the default chain), a region, a test endpoint."""

    region: str | None
    profile: str | None = None
    endpoint_url: str | None = None

    def as_record(self) -> dict[str, str | None]:
        """The JSON form kept in a deployment record (no credentials: only the profile's name)."""
        return {"region": self.region, "profile": self.profile, "endpoint_url": self.endpoint_url}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> AwsTarget:
        """Read `as_record`'s form back."""
        return cls(data.get("region"), data.get("profile"), data.get("endpoint_url"))


class AwsClients:
    """boto3 clients of one `AwsTarget`, made on first use (boto3 is imported only here, and only when used)."""

    def __init__(self, target: AwsTarget) -> None:
        import boto3
        import botocore.exceptions

        try:
            self._session = boto3.Session(profile_name=target.profile, region_name=target.region)
        except botocore.exceptions.ProfileNotFound:
            raise ConfigError(
                f"the AWS profile {target.profile!r} is not in ~/.aws/config or ~/.aws/credentials; "
                "add it with `aws configure --profile NAME` or remove architect.profile",
                key="architect.profile",
            ) from None
        self.target = target
        self._clients: dict[str, Any] = {}

    @property
    def region(self) -> str | None:
        """The region in use: the task's, else the profile's or the environment's."""
        return self.target.region or self._session.region_name

    def client(self, service: str) -> Any:
        """The boto3 client of `service` (ec2, elbv2, route53, s3, sts, acm, service-quotas)."""
        if service not in self._clients:
            from botocore.config import Config

            self._clients[service] = self._session.client(
                service,
                region_name=self.region,
                endpoint_url=self.target.endpoint_url,
                config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10, read_timeout=30),
            )
        return self._clients[service]


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
