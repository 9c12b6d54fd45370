"""The `[architect]` section of a task that uses `type = "local"`."""

from __future__ import annotations

import os
import sys
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from mephisto_core.abstractions import ArchitectArgs

MAX_UPLOAD_MB = 2048
#: More router processes than this on one port is a typo, not a machine: each one is a process and a channel.
MAX_ROUTER_PROCESSES = 64


def usable_cpu_count() -> int:
    """CPU cores this process may run on (its affinity mask where the system has one, e.g. in a container)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class LocalArchitectArgs(ArchitectArgs):
    """Where on this machine the worker pages are served, and how."""

    host: str = Field(
        default="127.0.0.1",
        description="Address to listen on: 127.0.0.1 = this computer only, 0.0.0.0 = all interfaces.",
    )
    port: int = Field(
        default=3000,
        ge=0,
        le=65535,
        description="Port workers connect to. 0 picks any free port (handy when 3000 is taken).",
    )
    mode: Literal["auto", "in_process", "subprocess"] = Field(
        default="auto",
        description=(
            "in_process runs the server inside `mephisto launch`; subprocess runs it as its own process "
            "(uses a second CPU core for many workers); auto (the default) is subprocess when this process may "
            "use two or more CPU cores, else in_process."
        ),
    )

    router_processes: int = Field(
        default=1,
        ge=1,
        le=MAX_ROUTER_PROCESSES,
        description=(
            "How many router processes share the port (SO_REUSEPORT on Linux: the kernel spreads new connections "
            "over them), each with its own channel to the operator. More than 1 spreads the work of opening and "
            "serving pages over more cores, for thousands of workers arriving at once on a machine with cores to "
            "spare; it needs mode = subprocess (auto picks it)."
        ),
    )

    @field_validator("router_processes")
    @classmethod
    def _processes_need_subprocess(cls, value: int, info: ValidationInfo) -> int:
        # Other systems either refuse SO_REUSEPORT (Windows) or give every connection to one of the sockets.
        if value > 1 and not sys.platform.startswith("linux"):
            raise ValueError(f"{value} router processes need Linux, which spreads a port's connections over them")
        if value > 1 and info.data.get("mode") == "in_process":
            raise ValueError(f'{value} router processes need mode = "subprocess" (or "auto"), not "in_process"')
        return value

    @property
    def resolved_mode(self) -> Literal["in_process", "subprocess"]:
        """The mode a deploy uses: `auto` decided by the CPU cores this process may run on, and subprocess
        whenever several router processes are asked for."""
        if self.mode != "auto":
            return self.mode
        return "subprocess" if usable_cpu_count() >= 2 or self.router_processes > 1 else "in_process"

    max_upload_mb: float = Field(
        default=50,
        gt=0,
        # An upload arrives as one WebSocket frame held in memory: 2 GiB is already far past a sane page.
        le=MAX_UPLOAD_MB,
        allow_inf_nan=False,
        description="Largest file a worker may upload, in megabytes (at most 2048).",
    )
    public_url: str | None = Field(
        default=None,
        description=(
            "The address workers use when the server sits behind a proxy or tunnel, "
            "e.g. https://tasks.example.org/. Printed instead of http://HOST:PORT/."
        ),
    )

    @field_validator("public_url")
    @classmethod
    def _must_be_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @property
    def max_upload_bytes(self) -> int:
        """`max_upload_mb` in bytes (a megabyte is 2**20 bytes)."""
        return int(self.max_upload_mb * 2**20)
