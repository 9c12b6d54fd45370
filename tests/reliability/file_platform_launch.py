"""`mephisto ARGS` in a fresh process with the `file_platform` test provider registered.

Usage: python file_platform_launch.py launch TASK_FILE [OPTIONS]
"""

from __future__ import annotations

import sys

from file_platform import FilePlatformPlugin

from mephisto_core.cli import cli
from mephisto_core.testing.runs import plugins_registered

if __name__ == "__main__":
    with plugins_registered(FilePlatformPlugin()):
        cli.main(sys.argv[1:], prog_name="mephisto")
