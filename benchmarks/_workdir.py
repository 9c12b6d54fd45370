"""What every benchmark sets up: a throwaway folder and environment for `mephisto`, the launch command, and
the simulated workers' shares among load-generator processes."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path


def temporary_workdir(stack: ExitStack, benchmark: str, keep: bool) -> Path:
    """A new temporary folder, removed when `stack` closes unless `keep` (then its path goes to stderr)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"mephisto-{benchmark.replace('_', '-')}-"))
    if keep:
        print(f"{benchmark}: keeping {workdir}", file=sys.stderr)
    else:
        stack.callback(shutil.rmtree, workdir, True)
    return workdir


def throwaway_postgres(stack: ExitStack) -> tuple[str, int | None]:
    """A new database on a PostgreSQL server of its own, stopped when `stack` closes: its URL and the server's
    postmaster pid."""
    from mephisto_core.testing.postgres import create_database, new_database_name, start_postgres

    server = start_postgres()
    stack.callback(server.stop)
    return create_database(server.admin_url, new_database_name("mephisto_bench")), server.postmaster_pid()


def isolated_env(workdir: Path, **extra: str) -> dict[str, str]:
    """This environment with the data dir and user config inside `workdir` and the default SQLite database."""
    env = {
        **os.environ,
        "MEPHISTO_DATA_DIR": str(workdir / "data"),
        "MEPHISTO_CONFIG_FILE": str(workdir / "config.toml"),
        **extra,
    }
    env.pop("MEPHISTO_DATABASE_URL", None)
    return env


def launch_command(mephisto: list[str], task_toml: Path, *overrides: str) -> list[str]:
    """`mephisto launch TASK architect.port=0 OVERRIDES --no-panel`: any free port, log lines instead of a panel."""
    return [*mephisto, "launch", str(task_toml), "architect.port=0", *overrides, "--no-panel"]


def split(total: int, parts: int) -> list[tuple[int, int]]:
    """(first, count) of each of `parts` near-equal shares of `total`."""
    shares, first = [], 0
    for i in range(parts):
        count = total // parts + (1 if i < total % parts else 0)
        shares.append((first, count))
        first += count
    return shares
