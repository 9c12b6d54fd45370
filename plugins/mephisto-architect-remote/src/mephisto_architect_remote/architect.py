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
    from mephisto_core.router import RouterInfo

logger = logging.getLogger(__name__)

#: Seconds between two looks at a deployed router's version endpoint while the run goes on (at most; a short
#: `give_up_after_seconds` is checked four times within its span).
WATCH_INTERVAL_S = 15.0
MIN_WATCH_INTERVAL_S = 0.5


class RemoteArchitect(Architect):
    """Uses the router at `url` (started by `mephisto router serve` on the lab's server) for one run.

    The router is the lab's: `deploy` checks it and hands the operator its channel (the operator pushes the
    task's build over it, again after a router restart), `shutdown` leaves it running. Subclasses that create
    the server themselves (the ec2 architect) call `connect_to` once their router answers.
    """

    type_name: ClassVar[str] = "remote"
    Args: ClassVar[type[ArchitectArgs]] = RemoteArchitectArgs

    def __init__(self, args: ArchitectArgs, run_dir: Path) -> None:
        super().__init__(args, run_dir)
        self._deployed: Deployment | None = None
        #: What the last successful probe found (for `mephisto check` and the launch log).
        self.router_info: RouterInfo | None = None
        limit = getattr(args, "give_up_after_seconds", 0) or WATCH_INTERVAL_S
        self.watch_interval_s = max(MIN_WATCH_INTERVAL_S, min(WATCH_INTERVAL_S, limit / 4))

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
        """The secret is there, the router answers at `url`, speaks this protocol and accepts the secret.

        Logs (at INFO, which `mephisto check` shows) the router's URL, its version and that the secret was
        accepted; raises ConfigError with one sentence saying what to fix otherwise.
        """
        args = self.remote_args
        if args.ca_file is not None and not args.ca_file.is_file():
            raise ConfigError(f"the CA file {args.ca_file} does not exist", key="architect.ca_file")
        secret = read_deploy_secret(args)
        info = self.probe(args.url, secret, args.ca_file)
        logger.info(
            "router %s: mephisto %s (protocol %d), deploy secret from %s accepted",
            info.url,
            info.router_version,
            info.protocol,
            secret_source(args),
        )

    async def deploy(self, build_dir: Path, channel_secret: str) -> Deployment:
        """Check the router and return its channel; the operator pushes `build_dir` over it.

        `channel_secret` (made by the operator for a router it starts) is not used: the lab's router has its own
        deploy secret, which the operator presents instead (`Deployment.channel_secret`).
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

        For subclasses that start the router themselves: call it once the router is up. `url` is its base URL,
        https://HOST[:PORT]/; `ca_file` a PEM bundle to trust instead of the system's CAs (None: those).
        """
        info = await asyncio.to_thread(self.probe, url, secret, ca_file)
        deployment = Deployment(
            worker_url=info.url,
            channel_url=info.channel_url,
            channel_secret=secret,
            push_build=True,
            ca_file=ca_file,
        )
        self._deployed = deployment
        logger.info("using the router at %s (mephisto %s)", info.url, info.router_version)
        return deployment

    def probe(self, url: str, secret: str, ca_file: Path | None) -> RouterInfo:
        """Check the router (reachable, TLS trusted, same protocol, secret accepted); ConfigError if not.

        Blocking. Never disturbs an operator connected to the router: the secret is checked on a probe channel.
        """
        if not url.startswith("https://"):
            logger.warning(
                "the router %s is reached over plain http: workers' answers and the deploy secret travel "
                "unencrypted; use https:// outside a trusted network",
                url,
            )
        # Imported here: the probe pulls in websockets, which listing plugins must not import.
        from mephisto_core import __version__
        from mephisto_core.router import probe_router

        try:
            info = probe_router(url, secret, ca_file=ca_file, timeout=self.remote_args.probe_timeout_seconds)
        except ConfigError as exc:
            if exc.key is not None:
                raise
            # The probe says what failed; the key says which line of the task to look at.
            raise ConfigError(exc.detail, key="architect.url") from exc
        if info.router_version != __version__:
            logger.warning(
                "the router at %s runs mephisto-core %s and this machine %s: they speak the same protocol, but "
                "install the same version on both when you can",
                info.url,
                info.router_version,
                __version__,
            )
        self.router_info = info
        return info

    async def watch_router(self) -> str | None:
        """Return a sentence once the router has not answered for `give_up_after_seconds`; None if never.

        Short outages are the channel's business: it reconnects by itself, pushes the build again if the router
        lost it, and pages resend. Only an outage longer than the limit stops the run (the next `mephisto
        launch` resumes it). The router is asked at its version endpoint, which needs no secret and leaves the
        channel alone.
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
                if now - down_since >= limit:
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
        """Forget the deployment; the router keeps running (it is the lab's server). Safe to call twice.

        The router keeps serving the last build until the next launch pushes another. When the run ended with
        every unit done, the operator told the router so (`{"event": "run_over"}`), and the router tells pages that
        come later that the task has ended; after a stop, they wait for the next launch to resume it.
        """
        self._deployed = None
