"""Create one deployment's resources, step by step, saving the record after each step (blocking boto3 calls).

Order: S3 objects, instance, target group, listener rule, DNS record. `teardown.py` removes them in reverse.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from mephisto_architect_ec2.args import Ec2ArchitectArgs
from mephisto_architect_ec2.aws import AwsClients, error_code
from mephisto_architect_ec2.records import TAG_CREATED_BY, TAG_KEEP, TAG_TASK, DeploymentRecord, DnsRecord
from mephisto_architect_ec2.userdata import RouterInstall, environment_file, user_data_script
from mephisto_core.errors import ConfigError

logger = logging.getLogger(__name__)

HEALTH_CHECK_PATH = "/__mephisto/version"
KEY_PREFIX = "mephisto-ec2"
ENV_OBJECT = "router.env"


def aws_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    """`{"k": "v"}` as AWS's `[{"Key": "k", "Value": "v"}]`."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


class ListenerInfo:
    """The HTTPS listener and its load balancer, as described by elbv2."""

    def __init__(self, listener: dict[str, Any], balancer: dict[str, Any]) -> None:
        self.listener = listener
        self.balancer = balancer

    @property
    def vpc_id(self) -> str:
        """The load balancer's VPC."""
        return str(self.balancer["VpcId"])


def describe_listener(clients: AwsClients, listener_arn: str) -> ListenerInfo:
    """The listener and its load balancer; MephistoError naming the ARN when either is missing."""
    elbv2 = clients.client("elbv2")
    try:
        listener = elbv2.describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]
        balancer = elbv2.describe_load_balancers(LoadBalancerArns=[listener["LoadBalancerArn"]])["LoadBalancers"][0]
    except Exception as exc:
        if error_code(exc) in ("ListenerNotFound", "LoadBalancerNotFound"):
            raise ConfigError(
                f"the listener {listener_arn} does not exist in {clients.region}", key="architect.listener_arn"
            ) from None
        raise
    return ListenerInfo(listener, balancer)


def find_hosted_zone(clients: AwsClients, domain: str) -> str | None:
    """The id of the public hosted zone named `domain`, or None."""
    zones = clients.client("route53").list_hosted_zones_by_name(DNSName=domain, MaxItems="10")["HostedZones"]
    for zone in zones:
        if zone["Name"].rstrip(".") == domain and not zone.get("Config", {}).get("PrivateZone", False):
            return str(zone["Id"]).rsplit("/", 1)[-1]
    return None


class Provisioner:
    """Creates the resources of `record` for the task `args`, saving the record under `data_dir` after each."""

    def __init__(self, clients: AwsClients, args: Ec2ArchitectArgs, data_dir: Path, record: DeploymentRecord) -> None:
        self.clients = clients
        self.args = args
        self.data_dir = data_dir
        self.record = record
        self.listener = describe_listener(clients, args.listener_arn)

    def _save(self) -> None:
        self.record.save(self.data_dir)

    def upload(self, wheel: Path, secret: str, expires_s: int) -> RouterInstall:
        """Put the wheel and the EnvironmentFile in the bucket (tagged, encrypted); return their presigned URLs."""
        s3 = self.clients.client("s3")
        base = f"{KEY_PREFIX}/{self.record.deployment_id}"
        wheel_key, env_key = f"{base}/{wheel.name}", f"{base}/{ENV_OBJECT}"
        tagging = urlencode(self.record.tags())
        for key in (wheel_key, env_key):
            self.record.object_keys.append(key)  # recorded first: a crash during the upload leaves nothing unnamed
        self._save()
        s3.put_object(
            Bucket=self.record.bucket,
            Key=wheel_key,
            Body=wheel.read_bytes(),
            Tagging=tagging,
            ServerSideEncryption="AES256",
        )
        s3.put_object(
            Bucket=self.record.bucket,
            Key=env_key,
            Body=environment_file(secret).encode(),
            Tagging=tagging,
            ServerSideEncryption="AES256",
        )

        def url(key: str) -> str:
            params = {"Bucket": self.record.bucket, "Key": key}
            return str(s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s))

        return RouterInstall(
            wheel_url=url(wheel_key),
            wheel_name=wheel.name,
            env_file_url=url(env_key),
            port=self.args.router_port,
            public_url=self.args.public_url,
            deployment_id=self.record.deployment_id,
        )

    def delete_env_object(self) -> None:
        """Delete the EnvironmentFile's object once the router has read it (its presigned URL is then worthless)."""
        env_keys = [key for key in self.record.object_keys if key.endswith("/" + ENV_OBJECT)]
        for key in env_keys:
            self.clients.client("s3").delete_object(Bucket=self.record.bucket, Key=key)
            self.record.object_keys.remove(key)
        self._save()

    def find_kept_instance(self) -> str | None:
        """A running instance an earlier run of this subdomain kept (`keep_instance`), by its tags; None if none."""
        filters = [
            {"Name": f"tag:{TAG_TASK}", "Values": [self.record.subdomain]},
            {"Name": f"tag:{TAG_KEEP}", "Values": ["true"]},
            {"Name": f"tag:{TAG_CREATED_BY}", "Values": [self.record.created_by]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
        reservations = self.clients.client("ec2").describe_instances(Filters=filters)["Reservations"]
        ids = sorted(i["InstanceId"] for r in reservations for i in r["Instances"])
        return ids[0] if ids else None

    def reuse_instance(self, instance_id: str) -> None:
        """Make a kept instance this deployment's (its tags name the new run; it is never terminated by it)."""
        tags = {**self.record.tags(), TAG_KEEP: "true"}
        self.clients.client("ec2").create_tags(Resources=[instance_id], Tags=aws_tags(tags))
        self.record.instance_id, self.record.instance_created = instance_id, False
        self._save()
        logger.info("reusing the kept instance %s", instance_id)

    def launch_instance(self, install: RouterInstall) -> str:
        """Start the instance with the user data script; return its id once it runs."""
        ec2 = self.clients.client("ec2")
        tags = self.record.tags()
        if self.args.keep_instance:
            tags[TAG_KEEP] = "true"
        params: dict[str, Any] = {
            "ImageId": self.args.ami_id,
            "InstanceType": self.args.instance_type,
            "MinCount": 1,
            "MaxCount": 1,
            "SubnetId": self.args.subnet_id,
            "SecurityGroupIds": [self.args.security_group_id],
            "UserData": user_data_script(install),
            # The same token twice starts one instance: a retried call after a lost answer adds nothing.
            "ClientToken": self.record.deployment_id,
            # IMDSv2 only: the user data (presigned URLs) is readable through a session token, not a plain GET.
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
            "TagSpecifications": [
                {
                    "ResourceType": "instance",
                    "Tags": aws_tags({**tags, "Name": f"mephisto-{self.record.deployment_id}"}),
                },
                {"ResourceType": "volume", "Tags": aws_tags(tags)},
            ],
        }
        if self.args.key_name:
            params["KeyName"] = self.args.key_name
        instance_id = str(ec2.run_instances(**params)["Instances"][0]["InstanceId"])
        # A kept instance outlives the deployment: only `mephisto ec2 cleanup --kept` terminates it.
        self.record.instance_id, self.record.instance_created = instance_id, not self.args.keep_instance
        self.record.instance_type = self.args.instance_type
        self._save()
        logger.info("launched instance %s (%s)", instance_id, self.args.instance_type)
        ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 5, "MaxAttempts": 60})
        return instance_id

    def check_host_free(self, live_owner: dict[str, str]) -> None:
        """Refuse a host name another deployment's listener rule serves; `live_owner` maps rule ARN to its owner."""
        elbv2 = self.clients.client("elbv2")
        for rule in elbv2.describe_rules(ListenerArn=self.args.listener_arn)["Rules"]:
            for condition in rule.get("Conditions", []):
                values = condition.get("HostHeaderConfig", {}).get("Values", []) or condition.get("Values", [])
                if condition.get("Field") == "host-header" and self.args.hostname in values:
                    owner = live_owner.get(rule["RuleArn"], "something that is not this data dir's")
                    raise ConfigError(
                        f"{self.args.hostname} is already served by the listener rule {rule['RuleArn']} ({owner}); "
                        "choose another architect.subdomain, or remove that rule (`mephisto ec2 cleanup` removes "
                        "those of finished runs)",
                        key="architect.subdomain",
                    )

    def create_target_group(self) -> str:
        """A target group (HTTP to router_port, health check on the router's version page) with the instance in it."""
        elbv2 = self.clients.client("elbv2")
        group = elbv2.create_target_group(
            Name=f"mephisto-{self.record.deployment_id}"[:32],
            Protocol="HTTP",
            Port=self.args.router_port,
            VpcId=self.listener.vpc_id,
            TargetType="instance",
            HealthCheckProtocol="HTTP",
            HealthCheckPath=HEALTH_CHECK_PATH,
            HealthCheckIntervalSeconds=10,
            HealthyThresholdCount=2,
            Matcher={"HttpCode": "200"},
            Tags=aws_tags(self.record.tags()),
        )["TargetGroups"][0]
        self.record.target_group_arn = str(group["TargetGroupArn"])
        self._save()
        elbv2.register_targets(
            TargetGroupArn=self.record.target_group_arn,
            Targets=[{"Id": self.record.instance_id, "Port": self.args.router_port}],
        )
        return self.record.target_group_arn

    def add_listener_rule(self) -> str:
        """A rule on the HTTPS listener: requests for SUBDOMAIN.DOMAIN go to the target group."""
        elbv2 = self.clients.client("elbv2")
        used = {r["Priority"] for r in elbv2.describe_rules(ListenerArn=self.args.listener_arn)["Rules"]}
        priority = next(p for p in range(1, 50001) if str(p) not in used)
        rule = elbv2.create_rule(
            ListenerArn=self.args.listener_arn,
            Priority=priority,
            Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": [self.args.hostname]}}],
            Actions=[{"Type": "forward", "TargetGroupArn": self.record.target_group_arn}],
            Tags=aws_tags(self.record.tags()),
        )["Rules"][0]
        self.record.rule_arn = str(rule["RuleArn"])
        self._save()
        return self.record.rule_arn

    def point_dns(self) -> DnsRecord:
        """UPSERT the alias A record SUBDOMAIN.DOMAIN -> the load balancer; refuse to replace someone else's."""
        zone_id = find_hosted_zone(self.clients, self.args.domain)
        if zone_id is None:
            raise ConfigError(f"there is no public Route 53 hosted zone for {self.args.domain}", key="architect.domain")
        balancer = self.listener.balancer
        dns = DnsRecord(zone_id, self.args.hostname, str(balancer["DNSName"]), str(balancer["CanonicalHostedZoneId"]))
        existing = current_record(self.clients, dns)
        if existing is not None and not points_at_balancer(existing, dns):
            raise ConfigError(
                f"{self.args.hostname} already has a DNS record that does not point at the load balancer; "
                "choose another architect.subdomain or delete that record",
                key="architect.subdomain",
            )
        self.record.dns = dns  # before the change: a crash right after it still names the record
        self._save()
        change = {"Action": "UPSERT", "ResourceRecordSet": alias_record_set(dns)}
        route53 = self.clients.client("route53")
        answer = route53.change_resource_record_sets(
            HostedZoneId=zone_id,
            ChangeBatch={
                "Comment": f"mephisto {self.record.deployment_id} (run {self.record.run_id})",
                "Changes": [change],
            },
        )
        # Nobody resolves the name before Route 53's servers all have it: a resolver caching "no such name"
        # would keep the router unreachable for the zone's negative TTL (15 minutes by default).
        route53.get_waiter("resource_record_sets_changed").wait(
            Id=answer["ChangeInfo"]["Id"], WaiterConfig={"Delay": 5, "MaxAttempts": 60}
        )
        return dns

    def target_health(self) -> tuple[str, str]:
        """The load balancer's view of the instance: its state (healthy, initial, unhealthy...) and the reason."""
        descriptions = self.clients.client("elbv2").describe_target_health(TargetGroupArn=self.record.target_group_arn)[
            "TargetHealthDescriptions"
        ]
        if not descriptions:
            return "unregistered", ""
        health = descriptions[0]["TargetHealth"]
        return str(health.get("State", "")), str(health.get("Reason", "") or health.get("Description", ""))


def alias_record_set(dns: DnsRecord) -> dict[str, Any]:
    """The record set of an alias A record to the load balancer."""
    return {
        "Name": dns.name + ".",
        "Type": "A",
        "AliasTarget": {"HostedZoneId": dns.alb_zone_id, "DNSName": dns.alb_dns_name, "EvaluateTargetHealth": False},
    }


def current_record(clients: AwsClients, dns: DnsRecord) -> dict[str, Any] | None:
    """The A record named `dns.name` in its zone as Route 53 has it now, or None."""
    listed = clients.client("route53").list_resource_record_sets(
        HostedZoneId=dns.zone_id, StartRecordName=dns.name + ".", StartRecordType="A", MaxItems="1"
    )["ResourceRecordSets"]
    for record_set in listed:
        if record_set["Name"].rstrip(".").lower() == dns.name and record_set["Type"] == "A":
            return dict(record_set)
    return None


def points_at_balancer(record_set: dict[str, Any], dns: DnsRecord) -> bool:
    """True when the record set is the alias to our load balancer (AWS may add `dualstack.` or a final dot)."""
    target = str(record_set.get("AliasTarget", {}).get("DNSName", "")).rstrip(".").lower()
    return target.removeprefix("dualstack.") == dns.alb_dns_name.rstrip(".").lower().removeprefix("dualstack.")


def describe_or_none(call: Any, key: str, **params: Any) -> list[dict[str, Any]]:
    """Run a describe call; an error saying the thing is not found means an empty list."""
    try:
        return list(call(**params)[key])
    except Exception as exc:
        if error_code(exc).endswith("NotFound") or error_code(exc) in (
            "InvalidInstanceID.NotFound",
            "NoSuchKey",
            "404",
        ):
            return []
        raise
