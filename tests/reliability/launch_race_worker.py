"""One racer of test_launch_race: selects the run of a task the way `mephisto launch` does, when told to.

Usage: python launch_race_worker.py DATABASE_URL|- SQLITE_PATH

Reads commands from stdin, one per line, and answers each on stdout:
- `load TASK_FILE`: read and validate the task file; answers `ready`.
- `go`: run `select_run` for that task in one write transaction; answers JSON
  `{"won": RUN_ID, "resumed": BOOL}` or `{"lost": "<message>", "error": "<exception class>"}`.
The test writes `go` to both racers back to back, so both transactions start within microseconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mephisto_core.data_model import open_database
from mephisto_core.operations.run.run_setup import select_run, this_process
from mephisto_core.task_config import TaskConfig, load_task_config


def main() -> None:
    url = None if sys.argv[1] == "-" else sys.argv[1]
    database = open_database(url, Path(sys.argv[2]))
    config: TaskConfig | None = None
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "load":
            config = load_task_config(argument)
            answer: dict[str, object] | str = "ready"
        elif command == "go" and config is not None:
            try:
                with database.write():
                    selection = select_run(config, "RACE_REQUESTER", this_process(), sandbox=True)
                answer = {"won": selection.run.id, "resumed": selection.resumed}
            except Exception as exc:  # reported to the test, which says what it expected
                answer = {"lost": str(exc), "error": type(exc).__name__}
        else:
            raise SystemExit(f"unknown command {line!r}")
        print(answer if isinstance(answer, str) else json.dumps(answer), flush=True)
    database.close()


if __name__ == "__main__":
    main()
