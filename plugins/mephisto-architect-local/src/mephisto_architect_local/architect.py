"""The `local` architect: the router runs on this machine, in the operator's process or as a child process."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Protocol

from mephisto_architect_local.args import LocalArchitectArgs
from mephisto_architect_local.in_process import InProcessRouter
from mephisto_architect_local.ports import PORT_KEY, check_can_listen
from mephisto_architect_local.router_group import RouterGroup
from mephisto_architect_local.subprocess_router import SubprocessRouter
from mephisto_core.abstractions import Architect, ArchitectArgs, Deployment
from mephisto_core.errors import ConfigError, MephistoError
from mephisto_core.router import Shard

ROUTER_LOG_NAME = "router.stderr.log"


class _RouterRunner(Protocol):
    async def watch(self) -> str | None: ...

    async def stop(self) -> None: ...


class LocalArchitect(Architect):
    """Serves the task's pages from this computer at http://HOST:PORT/.

    Workers on the same machine or network open that address (or `public_url` when a proxy or tunnel
    forwards to it). The operator connects to the router's channel on the same port.
    """

    type_name: ClassVar[str] = "local"
    Args: ClassVar[type[ArchitectArgs]] = LocalArchitectArgs

    def __init__(self, args: ArchitectArgs, run_dir: Path) -> None:
        super().__init__(args, run_dir)
        self._runner: _RouterRunner | None = None

    @property
    def local_args(self) -> LocalArchitectArgs:
        """The arguments with their concrete type."""
        if not isinstance(self.args, LocalArchitectArgs):
            raise TypeError(f"LocalArchitect needs LocalArchitectArgs, got {type(self.args).__name__}")
        return self.args

    def check(self) -> None:
        """The port is a valid TCP port and, unless 0, nobody else listens on it now."""
        args = self.local_args
        if not 0 <= args.port <= 65535:
            raise ConfigError(f"must be between 0 and 65535 (0 picks a free port), got {args.port}", key=PORT_KEY)
        if args.port != 0:
            check_can_listen(args.host, args.port)

    def serves_public_https(self) -> bool:
        """True only when `public_url` is an https:// address (a tunnel or proxy in front of this machine)."""
        public_url = self.local_args.public_url
        return public_url is not None and public_url.startswith("https://")

    async def deploy(self, build_dir: Path, channel_secret: str) -> Deployment:
        """Start the router serving `build_dir`; return the worker URL, the channel URL and, when the router
        runs in this process, its in-process channel link."""
        if self._runner is not None:
            raise MephistoError("this local architect is already deployed; call shutdown() first")
        if not build_dir.is_dir():
            raise MephistoError(f"the task's build directory {build_dir} does not exist")
        args = self.local_args
        self.check()
        # Beside the build dir, i.e. in the run's own folder: each run keeps its routers' logs.
        log_path = build_dir.parent / ROUTER_LOG_NAME
        public_url = args.public_url
        if args.router_processes > 1:

            def router(shard: Shard, port: int) -> SubprocessRouter:
                return SubprocessRouter(
                    build_dir, channel_secret, args.host, port, args.max_upload_bytes, log_path, shard=shard
                )

            group = RouterGroup(args.router_processes, args.port, router)
            worker_url, channel_urls = await group.start()
            self._runner = group
            return Deployment(
                worker_url=public_url or worker_url, channel_url=channel_urls[0], channel_urls=tuple(channel_urls)
            )
        if args.resolved_mode == "subprocess":
            child = SubprocessRouter(build_dir, channel_secret, args.host, args.port, args.max_upload_bytes, log_path)
            worker_url, channel_url = await child.start()
            self._runner = child
            return Deployment(worker_url=public_url or worker_url, channel_url=channel_url)
        in_process = InProcessRouter(build_dir, channel_secret, args.host, args.port, args.max_upload_bytes)
        worker_url, channel_url = await in_process.start()
        self._runner = in_process
        # In process, the operator talks to the router through `local_link`, not over the channel URL.
        link = in_process.local_link
        return Deployment(worker_url=public_url or worker_url, channel_url=channel_url, local_link=link)

    async def watch_router(self) -> str | None:
        """Return how a router child process died by itself; None in-process, or once `shutdown` stopped it."""
        runner = self._runner
        return None if runner is None else await runner.watch()

    async def shutdown(self) -> None:
        """Stop the router (a child gets SIGTERM, then SIGKILL after 5 s). Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.stop()
