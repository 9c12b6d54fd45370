"""kill -9 of the operator (`mephisto launch`) while it serves a run through a standalone router over TLS.

The router outlives the operator, as a lab's router does: it keeps the build and the page that held a unit stays
connected to it. The next launch of the task reconnects to the same router process (same `router_id`: no build to
push), and that page's unit, resent with its token, is stored. Every submission acknowledged before the kill is in
the database once. The launch uses the `remote` architect (mephisto-architect-remote) against the router.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path

import tomli_w
from standalone_e2e_helpers import WssPage, valid_answer

from mephisto_core.data_model import Agent, AgentStatus, TaskRun, Unit, UnitStatus, open_database
from mephisto_core.settings import Settings
from mephisto_core.testing.processes import LaunchProcess
from mephisto_core.testing.standalone_router import (
    TEST_ROUTER_SECRET,
    StandaloneRouterProcess,
    make_self_signed_certificate,
)

ROWS = 120
TASK_HTML = """<p>Say something about ${topic}.</p>
<input type="hidden" name="topic" value="${topic}">
<textarea name="answer" required></textarea>
"""


def _acks(path: Path) -> set[str]:
    if not path.exists():
        return set()
    text = path.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1]  # a kill may cut the last line short
    return {json.loads(line)["submit_key"] for line in complete.splitlines() if line}


def test_an_operator_killed_mid_run_loses_nothing_and_the_next_launch_finishes_through_the_same_router(
    tmp_path: Path,
    mephisto_settings: Settings,
    mephisto_cli_env: dict[str, str],
    mephisto_launch: Callable[..., LaunchProcess],
) -> None:
    cert = make_self_signed_certificate(tmp_path / "tls")
    router = StandaloneRouterProcess(tmp_path / "router-data", tmp_path / "router.log", certificate=cert)
    router.start()
    # The launch reads the deploy secret from here; its simulated workers trust the test certificate through it.
    mephisto_cli_env.update({"MEPHISTO_ROUTER_SECRET": TEST_ROUTER_SECRET, "SSL_CERT_FILE": str(cert.cert)})
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "task.html").write_text(TASK_HTML)
    with (folder / "data.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows([["topic"], *([f"topic-{i}"] for i in range(ROWS))])
    task = folder / "task.toml"
    task.write_text(
        tomli_w.dumps(
            {
                "task": {"name": "operator-kill", "title": "Operator kill", "disconnect_grace_seconds": 60},
                "blueprint": {"type": "static", "task_source": "task.html", "data_csv": "data.csv"},
                "architect": {"type": "remote", "url": router.url, "ca_file": str(cert.cert)},
                "provider": {"type": "mock"},
            }
        )
    )
    acks = tmp_path / "acks.jsonl"
    page = WssPage(router.url, "outside-page", cert.cert)
    try:
        first = mephisto_launch(str(task), "--simulate", "3", "--simulate-log", str(acks), "--no-panel")
        first.wait_for_output("Worker link: https://", timeout=60)
        held = page.hello()
        assert held["type"] == "assigned", held
        deadline = time.monotonic() + 60
        while len(_acks(acks)) < 10:
            assert time.monotonic() < deadline, first.output()
            time.sleep(0.02)
        first.kill()  # SIGKILL: the operator and its simulated workers die; the router and the page do not
        before = _acks(acks)
        assert 10 <= len(before) < ROWS

        second = mephisto_launch(str(task), "--simulate", "3", "--simulate-log", str(acks), "--no-panel")
        again = page.submit(valid_answer(held))  # unavailable until the new operator is there, then stored
        assert again["type"] == "submitted", again
        assert second.wait(120) == 0, second.output() + "\n--- router ---\n" + router.output()
    finally:
        page.close()
        router.close()

    # One router process throughout, and it installed the build once: the second launch had nothing to push.
    assert router.output().count("READY ") == 1
    assert router.output().count("now serving build") == 1, router.output()
    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        stored = [a.submit_key for a in Agent.select().where(Agent.status == AgentStatus.COMPLETED)]
        assert len(stored) == len(set(stored)) == ROWS
        assert before <= set(stored) and set(page.acknowledged) <= set(stored)
        assert Unit.select().where(Unit.status == UnitStatus.COMPLETED).count() == ROWS
        assert TaskRun.select().count() == 1 and TaskRun.get().is_completed
    finally:
        database.close()
