"""Architect: where the worker-facing router runs, and how the operator reaches it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class ArchitectArgs(BaseModel):
    """Base of an architect's `[architect]` section schema; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Deployment:
    """A running router: the base URL workers open and the channel URL the operator connects to."""

    worker_url: str
    channel_url: str


class Architect:
    """Base class of architects.

    A subclass sets `type_name` and `Args`. `deploy` starts a router (see `mephisto_core.router`) that serves
    `build_dir` and accepts the operator's channel authenticated with `channel_secret`; `shutdown` stops it.
    Both are coroutines run on the operator's event loop.
    """

    type_name: ClassVar[str]
    Args: ClassVar[type[ArchitectArgs]] = ArchitectArgs

    def __init__(self, args: ArchitectArgs, run_dir: Path) -> None:
        self.args = args
        self.run_dir = run_dir

    def check(self) -> None:
        """Validate the arguments beyond their types (ports free, credentials present); raise ConfigError."""

    async def deploy(self, build_dir: Path, channel_secret: str) -> Deployment:
        """Start the router for this run and return where it is."""
        raise NotImplementedError(f"{type(self).__name__} must implement deploy()")

    async def shutdown(self) -> None:
        """Stop the router and release what `deploy` created. Safe to call twice."""

    async def watch_router(self) -> str | None:
        """Wait while the deployed router runs; return why, if it stopped by itself.

        The operator runs this as a task between `deploy` and `shutdown`. A router that can die on its own (a
        child process, a cloud host) is watched here: return one sentence for the researcher saying what
        happened (which process, its exit code or signal), and the operator stops the run. Return None when
        there is nothing to watch (this default: a router in the operator's own process dies with it) or when
        `shutdown` stopped the router.
        """
        return None
