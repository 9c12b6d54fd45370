"""The garbage collector's settings for a long-running server process (`mephisto launch`, the router).

Python's defaults suit short scripts: a young-generation collection every 700 net new container objects, and every
hundredth at most a full one over every object the process holds. An operator serving thousands of pages holds
~100,000 objects made while starting (modules, the task's pages, the run's state) and makes short-lived dicts and
tuples for every message, so at 5,000 workers with 1 s think time its collections took ~12 % of its CPU, and each
full one stopped the process for ~70 ms (measured with `gc.callbacks`, docs/performance.md).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

#: net new container objects between young-generation collections (Python's default: 700). Each unit's messages
#: make a few hundred that die young; a higher threshold lets them die by reference counting before a collection
#: looks at them, so fewer survive into the older generations and fewer full collections follow. Costs at most a
#: few MiB of objects waiting to be collected.
YOUNG_GENERATION_THRESHOLD = 20_000

#: Set by the `mephisto` console script's entry point: the process is the program's own, so a command that serves
#: for long may tune its collector. False where the CLI runs inside another program (a test's CliRunner, a
#: notebook), whose collector is not ours to change.
process_is_ours = False


def settle_after_start() -> None:
    """Call once the process is serving: what it made while starting is kept out of every later collection
    (`gc.freeze`; it lives as long as the process anyway), and young collections come less often.

    Process-wide, so only for a process's own main program, never from a library call or a test process.
    """
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
    log.debug(
        "collector settled: %d objects frozen, young-generation threshold %d",
        gc.get_freeze_count(),
        YOUNG_GENERATION_THRESHOLD,
    )
