"""Which modules a piece of Python code imports, measured in a fresh interpreter with `-X importtime`.

Used to keep `mephisto --help` fast: it must not import boto3, websockets or any plugin's code.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable

#: Module-name prefixes `mephisto --help` must not import.
FORBIDDEN_AT_STARTUP: tuple[str, ...] = (
    "websockets",
    "uvloop",
    "boto3",
    "botocore",
    "mephisto_blueprint",
    "mephisto_architect",
    "mephisto_provider",
)

#: Runs the CLI's --help the way the console script does; click ends it with SystemExit(0).
HELP_CODE = "import sys; sys.argv = ['mephisto', '--help']; from mephisto_core.cli import main; main()"


def modules_imported_by(code: str, *, python: str = sys.executable, timeout_s: float = 60) -> list[str]:
    """Every module a fresh interpreter imports while running `code`, in import order.

    Raises RuntimeError, with the interpreter's output, when `code` exits with an error.
    """
    result = subprocess.run(
        [python, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{python} -c {code!r} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    modules = []
    for line in result.stderr.splitlines():
        # "import time:       123 |        456 |     package.module" (the header line has no numbers)
        if not line.startswith("import time:"):
            continue
        *_, name = line.split("|")
        name = name.strip()
        if name and name != "imported package":
            modules.append(name)
    return modules


def forbidden_startup_imports(modules: Iterable[str], forbidden: Iterable[str] = FORBIDDEN_AT_STARTUP) -> list[str]:
    """The modules among `modules` whose name starts with one of the `forbidden` prefixes, sorted."""
    prefixes = tuple(forbidden)
    return sorted({m for m in modules if m.startswith(prefixes)})
