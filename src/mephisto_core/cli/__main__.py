"""`python -m mephisto_core.cli` runs the `mephisto` command."""

from mephisto_core.cli import main

main()
