"""Run as a process of its own: deploy the ec2 architect for run RUN_ID against a moto server and then hang,
as an operator does while its run goes on, until the test kills it with SIGKILL (no shutdown ever runs).

Usage: python ec2_deploy_and_hang.py SECTION_JSON RUNS_DIR RUN_ID SECRET
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from mephisto_architect_ec2.architect import Ec2Architect
from mephisto_architect_ec2.args import Ec2ArchitectArgs


def main() -> None:
    section, runs_dir, run_id, secret = json.loads(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    architect = Ec2Architect(Ec2ArchitectArgs(**section), runs_dir)
    architect.boot_poll_s = 0.1
    build_dir = runs_dir / run_id / "build"
    build_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(architect.deploy(build_dir, secret))
    assert architect.record is not None
    print("DEPLOYED", architect.record.deployment_id, flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main()
