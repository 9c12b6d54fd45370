"""Remove one deployment's resources in the reverse order of their creation, then check by describing them.

Every step tolerates what is already gone, so a teardown can be repeated after a failure part-way; the record is
updated after each step, and deleted only once `remaining` finds nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mephisto_architect_ec2.aws import AwsClients, error_code
from mephisto_architect_ec2.provision import current_record, describe_or_none, points_at_balancer
from mephisto_architect_ec2.records import DeploymentRecord

logger = logging.getLogger(__name__)

#: States of an instance that no longer runs nor costs (shutting-down ends in terminated by itself).
GONE_STATES = ("shutting-down", "terminated")


def teardown(clients: AwsClients, record: DeploymentRecord, data_dir: Path) -> list[str]:
    """Delete the DNS record, listener rule, target group, instance (only one this deployment launched) and S3
    objects; return one sentence per thing removed. AWS errors other than 'not found' propagate."""
    done: list[str] = []
    route53, elbv2, ec2, s3 = (clients.client(s) for s in ("route53", "elbv2", "ec2", "s3"))
    if record.dns is not None:
        existing = current_record(clients, record.dns)
        if existing is not None and points_at_balancer(existing, record.dns):
            route53.change_resource_record_sets(
                HostedZoneId=record.dns.zone_id,
                ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": existing}]},
            )
            done.append(f"deleted the DNS record {record.dns.name}")
        elif existing is not None:
            logger.warning("left the DNS record %s alone: it no longer points at the load balancer", record.dns.name)
        record.dns = None
        record.save(data_dir)
    if record.rule_arn:
        try:
            elbv2.delete_rule(RuleArn=record.rule_arn)
            done.append(f"deleted the listener rule {record.rule_arn}")
        except Exception as exc:
            if error_code(exc) != "RuleNotFound":
                raise
        record.rule_arn = ""
        record.save(data_dir)
    if record.target_group_arn:
        try:
            elbv2.delete_target_group(TargetGroupArn=record.target_group_arn)
            done.append(f"deleted the target group {record.target_group_arn}")
        except Exception as exc:
            if error_code(exc) != "TargetGroupNotFound":
                raise
        record.target_group_arn = ""
        record.save(data_dir)
    if record.instance_id and record.instance_created:
        try:
            ec2.terminate_instances(InstanceIds=[record.instance_id])
            done.append(f"terminated the instance {record.instance_id}")
        except Exception as exc:
            if error_code(exc) != "InvalidInstanceID.NotFound":
                raise
    elif record.instance_id:
        done.append(f"left the kept instance {record.instance_id} running (keep_instance)")
    for key in list(record.object_keys):
        s3.delete_object(Bucket=record.bucket, Key=key)  # deleting a missing key is not an error in S3
        record.object_keys.remove(key)
        done.append(f"deleted s3://{record.bucket}/{key}")
        record.save(data_dir)
    return done


def remaining(clients: AwsClients, before: DeploymentRecord) -> list[str]:
    """Describe what the deployment had (`before`: a copy of its record taken before `teardown`) and return
    what still exists; empty when everything is gone."""
    left: list[str] = []
    ec2, s3, elbv2 = clients.client("ec2"), clients.client("s3"), clients.client("elbv2")
    if before.instance_id and before.instance_created:
        for reservation in describe_or_none(ec2.describe_instances, "Reservations", InstanceIds=[before.instance_id]):
            for instance in reservation["Instances"]:
                if instance["State"]["Name"] not in GONE_STATES:
                    left.append(f"instance {instance['InstanceId']} is {instance['State']['Name']}")
    if before.target_group_arn and describe_or_none(
        elbv2.describe_target_groups, "TargetGroups", TargetGroupArns=[before.target_group_arn]
    ):
        left.append(f"target group {before.target_group_arn}")
    rules = (
        describe_or_none(elbv2.describe_rules, "Rules", ListenerArn=before.listener_arn) if before.listener_arn else []
    )
    arns = [r["RuleArn"] for r in rules if not r.get("IsDefault")]
    left.extend(f"listener rule {arn}" for arn in _rules_of(clients, arns, before.deployment_id))
    if before.dns is not None:
        existing = current_record(clients, before.dns)
        if existing is not None and points_at_balancer(existing, before.dns):
            left.append(f"DNS record {before.dns.name}")
    for key in before.object_keys:
        listed = s3.list_objects_v2(Bucket=before.bucket, Prefix=key).get("Contents", [])
        if any(item["Key"] == key for item in listed):
            left.append(f"s3://{before.bucket}/{key}")
    return left


def _rules_of(clients: AwsClients, rule_arns: list[str], deployment_id: str) -> list[str]:
    """The rules among `rule_arns` tagged with `deployment_id`."""
    found: list[str] = []
    elbv2 = clients.client("elbv2")
    for start in range(0, len(rule_arns), 20):  # describe_tags takes 20 ARNs at a time
        for description in elbv2.describe_tags(ResourceArns=rule_arns[start : start + 20])["TagDescriptions"]:
            tags = {t["Key"]: t["Value"] for t in description.get("Tags", [])}
            if tags.get("mephisto:deployment") == deployment_id:
                found.append(description["ResourceArn"])
    return found
