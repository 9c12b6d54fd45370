"""The `ec2` architect: provision an instance running the standalone router behind the lab's load balancer."""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from mephisto_architect_remote.architect import RemoteArchitect
from mephisto_architect_remote.args import RemoteArchitectArgs
from mephisto_architect_remote.liveness import check_router_answers
from mephisto_architect_remote.secret import read_deploy_secret

from mephisto_architect_ec2.args import Ec2ArchitectArgs
from mephisto_architect_ec2.aws import AwsClients, AwsTarget
from mephisto_architect_ec2.prerequisites import check_prerequisites
from mephisto_architect_ec2.provision import Provisioner
from mephisto_architect_ec2.records import (
    DeploymentRecord,
    created_by,
    load_records,
    new_deployment_id,
    remember_target,
)
from mephisto_architect_ec2.teardown import remaining, teardown
from mephisto_architect_ec2.wheel import build_core_wheel, given_wheel
from mephisto_core.abstractions import ArchitectArgs, Deployment
from mephisto_core.errors import ConfigError, MephistoError

logger = logging.getLogger(__name__)

#: Seconds between two looks at a booting instance's router.
BOOT_POLL_S = 5.0


def kept_secret_path(data_dir: Path, instance_id: str) -> Path:
    """Where the deploy secret of a kept instance is stored (0600), so a later run can reuse the instance."""
    return data_dir / "architects" / "ec2" / "kept" / f"{instance_id}.secret"


class Ec2Architect(RemoteArchitect):
    """Launches (or reuses) an EC2 instance that installs the router from our wheel and runs it under systemd,
    makes it reachable at https://SUBDOMAIN.DOMAIN/ through the lab's load balancer, connects to it as the
    `remote` architect does, and removes every resource it made at shutdown."""

    type_name: ClassVar[str] = "ec2"
    Args: ClassVar[type[ArchitectArgs]] = Ec2ArchitectArgs

    def __init__(self, args: ArchitectArgs, run_dir: Path) -> None:
        super().__init__(args, run_dir)
        # The core hands architects its runs folder (<data dir>/runs); records live beside it.
        self.data_dir = run_dir.parent
        self.record: DeploymentRecord | None = None
        self.boot_poll_s = BOOT_POLL_S

    @property
    def ec2_args(self) -> Ec2ArchitectArgs:
        """The arguments with their concrete type."""
        if not isinstance(self.args, Ec2ArchitectArgs):
            raise TypeError(f"{type(self).__name__} needs Ec2ArchitectArgs, got {type(self.args).__name__}")
        return self.args

    @property
    def remote_args(self) -> RemoteArchitectArgs:
        """The `remote` architect's view: the router at the public URL (or the test hook's URL)."""
        args = self.ec2_args
        return RemoteArchitectArgs(
            url=args.test_router_url or args.public_url,
            probe_timeout_seconds=args.probe_timeout_seconds,
            give_up_after_seconds=args.give_up_after_seconds,
        )

    @property
    def target(self) -> AwsTarget:
        """The account and region of the task's resources."""
        args = self.ec2_args
        return AwsTarget(args.region, args.profile, args.endpoint_url)

    def serves_public_https(self) -> bool:
        """Workers open https://SUBDOMAIN.DOMAIN/ (unless a test points the architect at a local router)."""
        return self.ec2_args.test_router_url is None or self.ec2_args.test_router_url.startswith("https://")

    def check(self) -> None:
        """Every AWS prerequisite is in place; ConfigError with one sentence per missing one."""
        args = self.ec2_args
        if args.wheel_path is not None:
            given_wheel(args.wheel_path)
        problems = check_prerequisites(AwsClients(self.target), args)
        if problems:
            raise ConfigError(
                "the AWS account is not ready for the ec2 architect:\n- " + "\n- ".join(problems), key="architect"
            )

    async def deploy(self, build_dir: Path, channel_secret: str) -> Deployment:
        """Provision the instance and its way in, wait for the router, connect; undo everything on failure."""
        if self.record is not None:
            raise MephistoError("this ec2 architect is already deployed; call shutdown() first")
        try:
            run_id = int(build_dir.parent.name)  # the operator's layout: <runs>/<run id>/build
        except ValueError:
            raise MephistoError(f"cannot tell the run from the build directory {build_dir}") from None
        try:
            provisioner, secret = await asyncio.to_thread(self._provision, run_id, channel_secret)
            url = self.remote_args.url
            if self.ec2_args.test_router_url is not None:
                # The stand-in router was started with its own secret, given the remote architect's way.
                secret = read_deploy_secret(self.remote_args)
            await self._wait_for_router(provisioner, url)
            deployment = await self.connect_to(url, secret, None)
            await asyncio.to_thread(provisioner.delete_env_object)
        except BaseException:
            await self._teardown()
            raise
        logger.info("router of run %d deployed at %s (%s)", run_id, url, self.record and self.record.instance_id)
        return deployment

    def _provision(self, run_id: int, channel_secret: str) -> tuple[Provisioner, str]:
        """Blocking: remove what an earlier (dead) deployment of this run left, then create this one's resources."""
        args = self.ec2_args
        clients = AwsClients(self.target)
        owner = created_by(self.data_dir)
        for old in load_records(self.data_dir):
            # The operator took this run over, so an earlier deployment's process is dead: its host name is ours.
            if old.run_id == run_id:
                logger.info("removing what deployment %s of run %d left behind", old.deployment_id, run_id)
                self._remove(AwsClients(old.target), old)
        record = DeploymentRecord(
            deployment_id=new_deployment_id(run_id),
            run_id=run_id,
            subdomain=args.subdomain,
            created_by=owner,
            aws=AwsTarget(clients.region, args.profile, args.endpoint_url).as_record(),
            bucket=args.bucket,
            listener_arn=args.listener_arn,
        )
        self.record = record
        record.save(self.data_dir)
        remember_target(self.data_dir, record.target)
        provisioner = Provisioner(clients, args, self.data_dir, record)
        provisioner.check_host_free(_owners(self.data_dir))
        secret = channel_secret
        kept = provisioner.find_kept_instance() if args.keep_instance else None
        if kept is not None and kept_secret_path(self.data_dir, kept).is_file():
            secret = kept_secret_path(self.data_dir, kept).read_text(encoding="utf-8").strip()
            provisioner.reuse_instance(kept)
        else:
            if kept is not None:
                logger.warning("not reusing the kept instance %s: its deploy secret is not in this data dir", kept)
            with tempfile.TemporaryDirectory(prefix="mephisto-ec2-") as tmp:
                wheel = given_wheel(args.wheel_path) if args.wheel_path else build_core_wheel(Path(tmp))
                install = provisioner.upload(wheel, secret, expires_s=int(args.boot_timeout_seconds) + 900)
            provisioner.launch_instance(install)
            if args.keep_instance:
                _write_private(kept_secret_path(self.data_dir, record.instance_id), secret)
        provisioner.create_target_group()
        provisioner.add_listener_rule()
        provisioner.point_dns()
        return provisioner, secret

    async def _wait_for_router(self, provisioner: Provisioner, url: str) -> None:
        """Wait until the load balancer finds the instance's router healthy (it is installed at first boot), then
        until the router answers at `url`."""
        deadline = time.monotonic() + self.ec2_args.boot_timeout_seconds
        while True:
            state, reason = await asyncio.to_thread(provisioner.target_health)
            if state == "healthy":
                break
            if time.monotonic() >= deadline:
                raise MephistoError(
                    f"the load balancer still finds instance {provisioner.record.instance_id} {state} ({reason}) "
                    f"{self.ec2_args.boot_timeout_seconds:g} s after it was launched; see its system log (EC2 "
                    "console > instance > Monitor and troubleshoot > Get system log)"
                )
            await asyncio.sleep(self.boot_poll_s)
        while True:
            try:
                await asyncio.to_thread(
                    check_router_answers, url, ca_file=None, timeout=self.ec2_args.probe_timeout_seconds
                )
                return
            except MephistoError as exc:
                if time.monotonic() >= deadline:
                    instance = self.record.instance_id if self.record else "?"
                    raise MephistoError(
                        f"the router at {url} did not answer within {self.ec2_args.boot_timeout_seconds:g} s of "
                        f"launching instance {instance} (last error: {exc}); see the instance's system log "
                        "(EC2 console > instance > Monitor and troubleshoot > Get system log)"
                    ) from None
            await asyncio.sleep(self.boot_poll_s)

    async def shutdown(self) -> None:
        """Forget the channel, then delete the record, rule, target group, instance (unless kept) and objects,
        and check by describing them. Safe to call twice; what cannot be removed is logged for `mephisto ec2
        cleanup` rather than raised, so the rest of the run's clean-up goes on."""
        await super().shutdown()
        await self._teardown()

    async def _teardown(self) -> None:
        record, self.record = self.record, None
        if record is None:
            return
        try:
            await asyncio.to_thread(self._remove, AwsClients(record.target), record)
        except Exception as exc:  # AWS refused or is unreachable: the record stays for `mephisto ec2 cleanup`
            logger.error(
                "could not remove all that deployment %s of run %d made (%s); `mephisto ec2 cleanup` removes it",
                record.deployment_id,
                record.run_id,
                exc,
            )

    def _remove(self, clients: AwsClients, record: DeploymentRecord) -> None:
        before = copy.deepcopy(record)
        for line in teardown(clients, record, self.data_dir):
            logger.info("%s", line)
        left = remaining(clients, before)
        if left:
            raise MephistoError("still there after teardown: " + "; ".join(left))
        record.forget(self.data_dir)


def _owners(data_dir: Path) -> dict[str, str]:
    """Listener rule ARN -> which deployment of this data dir made it, for messages."""
    return {
        r.rule_arn: f"deployment {r.deployment_id} of run {r.run_id} in this data dir"
        for r in load_records(data_dir)
        if r.rule_arn
    }


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
