"""The `remote` architect: the task is served by a standalone router that already runs on a public server."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from mephisto_architect_remote.args import RemoteArchitectArgs
from mephisto_architect_remote.liveness import check_router_answers
from mephisto_architect_remote.secret import read_deploy_secret, secret_source
from mephisto_core.abstractions import Architect, ArchitectArgs, Deployment
from mephisto_core.errors import ConfigError, MephistoError

if TYPE_CHECKING:
    from mephisto_core.router.probe import RouterInfo

logger = logging.getLogger(__name__)

#: Seconds between two looks at a deployed router's version endpoint while the run goes on.
WATCH_INTERVAL_S = 15.0


class RemoteArchitect(Architect):
    """Uses the router at `url` (started by `mephisto router serve` on the lab's server) for one run.

    The router is the lab's: `deploy` checks it and hands the operator its channel (the operator pushes the
    task's build over it), `shutdown` leaves it running. Subclasses that create the server themselves (the ec2
    architect) call `connect_to` once their router answers.
    """

    type_name: ClassVar[str] = "remote"
    Args: ClassVar[type[ArchitectArgs]] = RemoteArchitectArgs

    def __init__(self, args: ArchitectArgs, run_dir: Path) -> None:
        super().__init__(args, run_dir)
        self._deployed: Deployment | None = None
        #: What the last successful probe found (for `mephisto check` and the launch log).
        self.router_info: RouterInfo | None = None
        self.watch_interval_s = WATCH_INTERVAL_S

    @property
    def remote_args(self) -> RemoteArchitectArgs:
        """The arguments with their concrete type."""
        if not isinstance(self.args, RemoteArchitectArgs):
            raise TypeError(f"{type(self).__name__} needs RemoteArchitectArgs, got {type(self.args).__name__}")
        return self.args

    def serves_public_https(self) -> bool:
        """True for an https:// router: workers of a paid platform can open its URL."""
        return self.remote_args.is_https

    def check(self) -> None:
        """The secret is there, the router answers at `url`, runs this version and accepts the secret."""
        args = self.remote_args
        if args.ca_file is not None and not args.ca_file.is_file():
            raise ConfigError(f"the CA file {args.ca_file} does not exist", key="architect.ca_file")
        secret = read_deploy_secret(args)
        info = self._probe(args.url, secret, args.ca_file)
        self.router_info = info
        logger.info(
            "router %s: mephisto %s, deploy secret from %s accepted", args.url, info.version, secret_source(args)
        )

    async def deploy(self, build_dir: Path, channel_secret: str) -> Deployment:
        """Check the router and return its channel; the operator pushes `build_dir` over it.

        `channel_secret` (made by the operator for a router it starts) is not used: the lab's router already
        has its own deploy secret, which the operator presents instead.
        """
        if self._deployed is not None:
            raise MephistoError(f"this {self.type_name} architect is already deployed; call shutdown() first")
        if not build_dir.is_dir():
            raise MephistoError(f"the task's build directory {build_dir} does not exist")
        args = self.remote_args
        secret = read_deploy_secret(args)
        return await self.connect_to(args.url, secret, args.ca_file)

    async def connect_to(self, url: str, secret: str, ca_file: Path | None) -> Deployment:
        """Probe the router at `url` with `secret` and make it this run's deployment (what `deploy` returns).

        For subclasses that start the router themselves: call it once the router is up. `url` is a base URL
        (https://HOST[:PORT]/); the channel is at the `channel_path` of the arguments.
        """
        if not url.startswith("https://"):
            logger.warning(
                "the router %s is reached over plain http: workers' answers and the deploy secret travel "
                "unencrypted; use https:// outside a trusted network",
                url,
            )
        info = await asyncio.to_thread(self._probe, url, secret, ca_file)
        self.router_info = info
        deployment = Deployment(
            worker_url=url,
            channel_url=_channel_url(url, self.remote_args.channel_path),
            channel_secret=secret,
            push_build=True,
            ca_file=ca_file,
        )
        self._deployed = deployment
        logger.info("using the router at %s (mephisto %s)", url, info.version)
        return deployment

    def _probe(self, url: str, secret: str, ca_file: Path | None) -> RouterInfo:
        # Imported here: the probe pulls in websockets, which listing plugins must not import.
        from mephisto_core.router.probe import probe_router

        return probe_router(url, secret, ca_file=ca_file, timeout=self.remote_args.probe_timeout_seconds)

    async def watch_router(self) -> str | None:
        """Return a sentence once the router has not answered for `give_up_after_seconds`; None if never.

        Short outages are the channel's business: it reconnects by itself and pages resend. Only an outage
        longer than the limit stops the run (the next `mephisto launch` resumes it).
        """
        deployment = self._deployed
        limit = self.remote_args.give_up_after_seconds
        if deployment is None or limit == 0:
            return None
        down_since: float | None = None
        while self._deployed is deployment:
            try:
                await asyncio.to_thread(
                    check_router_answers,
                    deployment.worker_url,
                    ca_file=deployment.ca_file,
                    timeout=self.remote_args.probe_timeout_seconds,
                )
            except MephistoError as exc:
                now = time.monotonic()
                if down_since is None:
                    down_since = now
                    logger.warning("the router %s does not answer (%s); waiting for it", deployment.worker_url, exc)
                elif now - down_since >= limit:
                    return (
                        f"the router at {deployment.worker_url} has not answered for {now - down_since:.0f} s "
                        f"(architect.give_up_after_seconds = {limit:g}); the last error: {exc}"
                    )
            else:
                if down_since is not None:
                    logger.info("the router %s answers again", deployment.worker_url)
                down_since = None
            await asyncio.sleep(self.watch_interval_s)
        return None

    async def shutdown(self) -> None:
        """Forget the deployment; the router keeps running (it is the lab's server). Safe to call twice."""
        self._deployed = None


def _channel_url(base_url: str, channel_path: str) -> str:
    """wss://HOST/_channel for https://HOST/ (ws:// for http://), keeping a base path."""
    if base_url.startswith("https://"):
        scheme, rest = "wss://", base_url[len("https://") :]
    elif base_url.startswith("http://"):
        scheme, rest = "ws://", base_url[len("http://") :]
    else:
        raise MephistoError(f"the router URL {base_url!r} is not an http(s):// URL")
    return scheme + rest.rstrip("/") + channel_path
