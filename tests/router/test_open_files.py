"""The router raises its soft open-file limit (one descriptor per worker socket) up to the hard limit."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

PROBE = """
import json, logging, resource, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from mephisto_core.router.open_files import raise_open_file_limit
now = raise_open_file_limit(int(sys.argv[1]))
print(json.dumps({"returned": now, "soft": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}))
"""


def run_probe(wanted: int, soft: int, hard: int) -> tuple[dict[str, int], str]:
    """Run the probe in a child whose limits start at (soft, hard), so this process keeps its own."""

    def lower_limits() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(wanted)],
        preexec_fn=lower_limits,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout), done.stderr


def current_hard() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return 1 << 20 if hard == resource.RLIM_INFINITY else hard


def test_the_soft_limit_is_raised_to_what_is_wanted() -> None:
    hard = current_hard()
    wanted = min(hard, 8192)
    result, stderr = run_probe(wanted, soft=256, hard=hard)
    assert result == {"returned": wanted, "soft": wanted}
    assert "may open only" not in stderr


def test_the_soft_limit_stops_at_the_hard_limit_and_says_why() -> None:
    result, stderr = run_probe(65_536, soft=100, hard=512)
    assert result == {"returned": 512, "soft": 512}
    assert "may open only 512 files" in stderr and "ulimit -Hn" in stderr


def test_a_higher_soft_limit_is_left_alone() -> None:
    # Hard limits are far above 512 everywhere; wanting fewer than the soft limit changes nothing.
    result, _ = run_probe(256, soft=512, hard=current_hard())
    assert result == {"returned": 512, "soft": 512}
