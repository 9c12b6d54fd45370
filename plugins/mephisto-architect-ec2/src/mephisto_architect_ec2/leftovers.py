"""Resources of ec2 deployments whose launch is gone: found from the deployment records and from AWS tags.

A deployment's record (see `records.py`) names everything it made. A launch killed between an AWS call and the
record's next save leaves a resource the record does not name; it still carries the deployment's tags, so
instances, target groups and listener rules are also looked up by tag (`mephisto:created-by` of this data dir)
in every region a record names, and in the regions given to `mephisto ec2 cleanup --region`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, Literal

from mephisto_architect_ec2.aws import AwsClients, AwsTarget
from mephisto_architect_ec2.records import (
    TAG_CREATED_BY,
    TAG_DEPLOYMENT,
    TAG_KEEP,
    TAG_RUN,
    TAG_TASK,
    DeploymentRecord,
    created_by,
    known_targets,
    load_records,
)
from mephisto_architect_ec2.teardown import remaining, teardown
from mephisto_core.abstractions import CleanupScope, Leftover, LeftoverCleaner
from mephisto_core.errors import MephistoError

logger = logging.getLogger(__name__)

#: On-demand Linux prices in us-east-1 (USD per hour, 2024); other regions differ by a few percent.
HOURLY_USD = {
    "t2.micro": 0.0116,
    "t2.small": 0.023,
    "t3.nano": 0.0052,
    "t3.micro": 0.0104,
    "t3.small": 0.0208,
    "t3.medium": 0.0416,
    "t3a.micro": 0.0094,
    "t3a.small": 0.0188,
    "t4g.micro": 0.0084,
    "t4g.small": 0.0168,
    "c6i.large": 0.085,
    "m6i.large": 0.096,
}
LIVE_STATES = ["pending", "running", "stopping", "stopped"]


def describe(record: DeploymentRecord) -> str:
    """What the deployment still has, for a person."""
    parts = []
    if record.instance_id:
        parts.append(f"instance {record.instance_id}" + ("" if record.instance_created else " (kept)"))
    if record.target_group_arn:
        parts.append("target group " + record.target_group_arn.rsplit(":", 1)[-1])
    if record.rule_arn:
        parts.append("listener rule")
    if record.dns is not None:
        parts.append(f"DNS record {record.dns.name}")
    if record.object_keys:
        parts.append(f"{len(record.object_keys)} S3 object(s) in {record.bucket}")
    region = record.aws.get("region") or "?"
    return f"ec2 deployment {record.deployment_id} of {record.subdomain or '?'} in {region}: " + (
        ", ".join(parts) or "nothing (a stale record)"
    )


def cost(record: DeploymentRecord) -> str:
    """What it costs while it stays."""
    if record.instance_id and (record.instance_created or not record.target_group_arn):
        price = HOURLY_USD.get(record.instance_type)
        kind = record.instance_type or "instance"
        return f"about ${price}/hour ({kind}, on-demand)" if price else f"the on-demand price of one {kind} per hour"
    if record.target_group_arn or record.rule_arn:
        return "a listener rule on your load balancer (no charge of its own; the host name stays served)"
    return "nothing (a DNS record or S3 objects of a few MB)"


def discover(clients: AwsClients, owner: str, *, include_kept: bool) -> dict[str, DeploymentRecord]:
    """Deployments of `owner` seen through the tags of instances, target groups and listener rules."""
    found: dict[str, DeploymentRecord] = {}
    target = AwsTarget(clients.region, clients.target.profile, clients.target.endpoint_url)

    def entry(tags: dict[str, str]) -> DeploymentRecord | None:
        deployment = tags.get(TAG_DEPLOYMENT)
        if not deployment or not tags.get(TAG_RUN, "").isdigit():
            return None
        if deployment not in found:
            found[deployment] = DeploymentRecord(
                deployment, int(tags[TAG_RUN]), tags.get(TAG_TASK, ""), owner, target.as_record(), "", ""
            )
        return found[deployment]

    ec2 = clients.client("ec2")
    filters = [
        {"Name": f"tag:{TAG_CREATED_BY}", "Values": [owner]},
        {"Name": "instance-state-name", "Values": LIVE_STATES},
    ]
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                tags = _tags(instance.get("Tags", []))
                kept = tags.get(TAG_KEEP) == "true"
                if kept and not include_kept:
                    continue
                record = entry(tags)
                if record is not None:
                    record.instance_id, record.instance_created = instance["InstanceId"], True
                    record.instance_type = instance.get("InstanceType", "")
    elbv2 = clients.client("elbv2")
    groups = [g for page in elbv2.get_paginator("describe_target_groups").paginate() for g in page["TargetGroups"]]
    for group, tags in _with_tags(elbv2, groups, "TargetGroupArn"):
        if tags.get(TAG_CREATED_BY) != owner or (record := entry(tags)) is None:
            continue
        record.target_group_arn = group["TargetGroupArn"]
        for balancer_arn in group.get("LoadBalancerArns", []):
            for listener in elbv2.describe_listeners(LoadBalancerArn=balancer_arn)["Listeners"]:
                for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
                    forwards = {a.get("TargetGroupArn") for a in rule.get("Actions", [])}
                    if group["TargetGroupArn"] in forwards:
                        record.rule_arn, record.listener_arn = rule["RuleArn"], listener["ListenerArn"]
    return found


def _tags(pairs: list[dict[str, str]]) -> dict[str, str]:
    return {pair["Key"]: pair["Value"] for pair in pairs}


def _with_tags(elbv2: Any, items: list[dict[str, Any]], arn_key: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Each elbv2 resource with its tags (describe_tags takes 20 ARNs a call)."""
    by_arn = {item[arn_key]: item for item in items}
    arns = list(by_arn)
    out: list[tuple[dict[str, Any], dict[str, str]]] = []
    for start in range(0, len(arns), 20):
        for description in elbv2.describe_tags(ResourceArns=arns[start : start + 20])["TagDescriptions"]:
            out.append((by_arn[description["ResourceArn"]], _tags(description.get("Tags", []))))
    return out


def _merge(record: DeploymentRecord, seen: DeploymentRecord) -> None:
    """Add to `record` what the tags show and the record missed (a launch killed before it saved them)."""
    if not record.instance_id and seen.instance_id:
        record.instance_id, record.instance_created = seen.instance_id, True
        record.instance_type = seen.instance_type
    if not record.target_group_arn:
        record.target_group_arn = seen.target_group_arn
    if not record.rule_arn:
        record.rule_arn = seen.rule_arn


def find_deployments(
    data_dir: Path, extra_targets: Sequence[AwsTarget] = (), *, include_kept: bool = False
) -> list[DeploymentRecord]:
    """Every deployment of this data dir that has a record or tagged resources, records completed by tags.

    A region that cannot be searched (credentials gone, AWS unreachable) is logged and skipped: the records
    still list what they name there.
    """
    records = {r.deployment_id: r for r in load_records(data_dir)}
    # The records' own owner values too: a renamed host still finds what it made under its old name.
    owners = sorted({created_by(data_dir)} | {r.created_by for r in records.values()})
    targets = {r.target for r in records.values()} | set(known_targets(data_dir)) | set(extra_targets)
    for target in sorted(targets, key=lambda t: (t.region or "", t.profile or "", t.endpoint_url or "")):
        for owner in owners:
            try:
                seen_by_id = discover(AwsClients(target), owner, include_kept=include_kept)
            except Exception as exc:  # one region's failure must not hide the others' leftovers
                logger.warning(
                    "could not search %s for ec2 deployments: %s", target.region or "the default region", exc
                )
                break
            for deployment_id, seen in seen_by_id.items():
                if deployment_id in records:
                    _merge(records[deployment_id], seen)
                elif seen.listener_arn or seen.instance_id or seen.target_group_arn:
                    records[deployment_id] = seen
    return sorted(records.values(), key=lambda r: (r.run_id, r.deployment_id))


def remove_deployment(data_dir: Path, record: DeploymentRecord) -> str:
    """Tear the deployment down and check it is gone; one sentence saying what was done."""
    clients = AwsClients(record.target)
    before = DeploymentRecord.from_json(json.loads(json.dumps(asdict(record))))
    done = teardown(clients, record, data_dir)
    if before.instance_id and before.instance_created:
        # A kept instance found with --kept: its stored deploy secret goes with it.
        (data_dir / "architects" / "ec2" / "kept" / f"{before.instance_id}.secret").unlink(missing_ok=True)
    left = remaining(clients, before)
    if left:
        raise MephistoError(f"deployment {record.deployment_id}: still there after removal: " + "; ".join(left))
    record.forget(data_dir)
    return f"deployment {record.deployment_id} of run {record.run_id}: " + ("; ".join(done) or "nothing was left")


class Ec2Cleaner(LeftoverCleaner):
    """Resources of ec2 deployments whose run no process serves (kept instances are left alone)."""

    kind: ClassVar[Literal["provider", "architect"]] = "architect"
    type_name: ClassVar[str] = "ec2"

    def __init__(self, extra_targets: list[AwsTarget] | None = None, *, include_kept: bool = False) -> None:
        self.extra_targets = list(extra_targets or [])
        self.include_kept = include_kept

    def find(self, scope: CleanupScope) -> list[Leftover]:
        """One leftover per deployment of a run that is not live (within the scope)."""
        found = []
        for record in find_deployments(scope.data_dir, self.extra_targets, include_kept=self.include_kept):
            if not scope.covers(record.run_id) or scope.is_run_live(record.run_id):
                continue
            handle = json.dumps(asdict(record))
            found.append(Leftover(self.kind, self.type_name, describe(record), cost(record), record.run_id, handle))
        return found

    def remove(self, scope: CleanupScope, leftover: Leftover) -> str:
        """Tear the deployment down (the same steps a shutdown takes) and check by describing."""
        record = DeploymentRecord.from_json(json.loads(leftover.handle))
        if scope.is_run_live(record.run_id):
            raise MephistoError(f"run {record.run_id} is served by a running launch again; it was left alone")
        return remove_deployment(scope.data_dir, record)
