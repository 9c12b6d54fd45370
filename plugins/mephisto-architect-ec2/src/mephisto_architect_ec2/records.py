"""What one deployment created, kept on disk as it is created, so a killed launch's resources can be found again.

Each deployment (one `deploy` of one run) has an id `r<run>-<random>` and a JSON record in
`<data dir>/architects/ec2/deployments/<id>.json`, written (0600) after every step. Every AWS resource it
creates also carries the tags below, so `mephisto ec2 cleanup --region R` finds them even without the record.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mephisto_architect_ec2.aws import AwsTarget

logger = logging.getLogger(__name__)

TAG_RUN = "mephisto:run-id"
TAG_TASK = "mephisto:task"
TAG_CREATED_BY = "mephisto:created-by"
TAG_DEPLOYMENT = "mephisto:deployment"
TAG_KEEP = "mephisto:keep"


def created_by(data_dir: Path) -> str:
    """This data dir's value of the `mephisto:created-by` tag: host name and data dir (AWS allows 256 chars)."""
    return f"{socket.gethostname()}:{data_dir.resolve()}"[:256]


def records_dir(data_dir: Path) -> Path:
    """Where the deployment records of this data dir are."""
    return data_dir / "architects" / "ec2" / "deployments"


def new_deployment_id(run_id: int) -> str:
    """A fresh deployment id; short, as it goes into a target group's name (32 characters at most)."""
    return f"r{run_id}-{secrets.token_hex(4)}"


@dataclass
class DnsRecord:
    """The alias A record `name` in hosted zone `zone_id` pointing at the load balancer."""

    zone_id: str
    name: str
    alb_dns_name: str
    alb_zone_id: str


@dataclass
class DeploymentRecord:
    """The resources of one deployment; an empty field is a resource not (yet) created."""

    deployment_id: str
    run_id: int
    subdomain: str
    created_by: str
    aws: dict[str, str | None]
    bucket: str
    listener_arn: str
    instance_type: str = ""
    object_keys: list[str] = field(default_factory=list)
    instance_id: str = ""
    instance_created: bool = False  # False: a kept instance (keep_instance), never terminated by the deployment
    target_group_arn: str = ""
    rule_arn: str = ""
    dns: DnsRecord | None = None

    @property
    def target(self) -> AwsTarget:
        """The account and region the resources are in."""
        return AwsTarget.from_record(self.aws)

    def tags(self) -> dict[str, str]:
        """The tags every resource of this deployment carries."""
        return {
            TAG_RUN: str(self.run_id),
            TAG_TASK: self.subdomain,
            TAG_CREATED_BY: self.created_by,
            TAG_DEPLOYMENT: self.deployment_id,
        }

    def save(self, data_dir: Path) -> None:
        """Write the record (readable by the user only), replacing the previous version atomically."""
        folder = records_dir(data_dir)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"{self.deployment_id}.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(self), out, indent=1)
        tmp.replace(path)

    def forget(self, data_dir: Path) -> None:
        """Delete the record (everything it names is gone)."""
        (records_dir(data_dir) / f"{self.deployment_id}.json").unlink(missing_ok=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeploymentRecord:
        """Read a record's JSON form back."""
        values = dict(data)
        dns = values.pop("dns", None)
        return cls(**values, dns=DnsRecord(**dns) if dns else None)


def load_records(data_dir: Path) -> list[DeploymentRecord]:
    """Every deployment record of this data dir, oldest run first; an unreadable one is skipped with a warning."""
    found: list[DeploymentRecord] = []
    folder = records_dir(data_dir)
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(DeploymentRecord.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError) as exc:
            # Its resources still carry their tags: `mephisto ec2 cleanup --region R` finds them without it.
            logger.warning("skipping the unreadable deployment record %s (%s)", path, exc)
    return sorted(found, key=lambda r: (r.run_id, r.deployment_id))


def _targets_path(data_dir: Path) -> Path:
    return data_dir / "architects" / "ec2" / "targets.json"


def remember_target(data_dir: Path, target: AwsTarget) -> None:
    """Note an account/region this data dir deployed to, so cleanup looks there by tag even once records are gone
    (a kept instance has none after its run)."""
    known = known_targets(data_dir)
    if target in known:
        return
    path = _targets_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump([t.as_record() for t in [*known, target]], out)
    tmp.replace(path)


def known_targets(data_dir: Path) -> list[AwsTarget]:
    """The accounts/regions `remember_target` noted (none when the file is missing or unreadable)."""
    try:
        data = json.loads(_targets_path(data_dir).read_text(encoding="utf-8"))
        return [AwsTarget.from_record(item) for item in data]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        logger.warning("skipping the unreadable %s (%s)", _targets_path(data_dir), exc)
        return []
