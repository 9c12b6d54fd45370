"""A whole run through a standalone router over TLS: `mephisto router serve` as its own process with a certificate made
here, an operator that connects out to it over wss://, pushes its build and takes the pages' traffic; workers over
wss:// and one Chromium worker over https://.

Mid-run the channel's TCP connection is cut, the router is killed with SIGKILL and started again on the same port
(it serves the build from its data dir before the operator is back), then killed again with its data dir emptied
(the operator pushes the build again), and the operator stops and a new one resumes the run. Every submission a page
was told was stored is in the database, once. After the run, pages that come late (and Chromium) are told it is
over, also after the router restarts.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import submit_and_wait
from standalone_e2e_helpers import (
    ChannelCutter,
    OperatorThread,
    StandaloneTestPlugin,
    WssPage,
    standalone_architect,
    valid_answer,
    write_task,
)

from mephisto_core.data_model import Agent, AgentFile, AgentStatus, Database, TaskRun, Unit, UnitStatus, Worker
from mephisto_core.operations.run.channel import OperatorChannel
from mephisto_core.router.build_archive import build_digest
from mephisto_core.router.probe import probe_router
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config
from mephisto_core.testing.served_pages import page_as_built
from mephisto_core.testing.standalone_router import (
    TEST_ROUTER_SECRET,
    SelfSignedCertificate,
    StandaloneRouterProcess,
    make_self_signed_certificate,
)

ROWS = 10
PHOTO = bytes(range(256)) * 400  # 100 KiB through the router's upload frames and the cut channel
TASK_HTML = """<p>Say something about ${topic}.</p>
<input type="hidden" name="topic" value="${topic}">
<textarea name="answer" required></textarea>
<input type="file" name="photo">
"""


def _task(tmp_path: Path, architect: dict[str, Any]) -> Path:
    return write_task(tmp_path / "task", "standalone-tls", architect, TASK_HTML, [f"topic-{i}" for i in range(ROWS)])


def _get(url: str, cert: SelfSignedCertificate) -> tuple[int, bytes]:
    context = ssl.create_default_context(cafile=str(cert.cert))
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def _one_unit(page: WssPage) -> dict[str, Any] | None:
    """Take a unit and submit it; the refusal when there is none."""
    reply = page.hello()
    if reply["type"] != "assigned":
        return reply
    assert not reply["submitted"], reply
    answer = page.submit(valid_answer(reply))
    assert answer["type"] == "submitted", answer
    return None


def test_a_run_through_a_tls_standalone_router_loses_nothing_across_a_cut_channel_and_router_restarts(
    tmp_path: Path,
    mephisto_settings: Settings,
    sqlite_database: Database,
    mephisto_register_plugin: Callable[[object], None],
    browser: Any,
) -> None:
    mephisto_register_plugin(StandaloneTestPlugin())
    cert = make_self_signed_certificate(tmp_path / "tls")
    router = StandaloneRouterProcess(tmp_path / "router-data", tmp_path / "router.log", certificate=cert)
    router.start()
    cutter = ChannelCutter(router.port)
    operator: OperatorThread | None = None
    pages: list[WssPage] = []
    try:
        assert probe_router(router.url, TEST_ROUTER_SECRET, ca_file=cert.cert).task is None
        architect = standalone_architect(router, cert.cert, f"wss://127.0.0.1:{cutter.port}/_channel")
        config = load_task_config(_task(tmp_path, architect), [])
        operator = OperatorThread(mephisto_settings, sqlite_database, config).start()
        channel: Any = operator.operator.io.channel  # type: ignore[union-attr]
        build = mephisto_settings.runs_dir / str(operator.operator.stats.run_id) / "build"
        # The link went out only once the router served the pushed build.
        assert probe_router(router.url, TEST_ROUTER_SECRET, ca_file=cert.cert).task == build_digest(build)
        assert channel.pusher.pushes == 1
        status, body = _get(router.url + "?worker_id=someone", cert)
        assert status == 200 and page_as_built(body) == (build / "index.html").read_bytes()

        pages = [WssPage(router.url, f"worker-{i}", cert.cert) for i in range(3)]
        for page in pages:
            assert _one_unit(page) is None

        # 1. The channel's TCP connection dies while a page holds a unit; its file and submit are resent until
        # stored.
        held = pages[0].hello()
        cutter.cut()
        photo = pages[0].upload("photo", "photo.bin", PHOTO)
        assert pages[0].submit(valid_answer(held), [photo])["type"] == "submitted"
        photo_unit = held["unit_id"]

        # 2. kill -9 of the router while a page holds a unit; the operator cannot come back at first.
        held = pages[1].hello()
        cutter.hold()
        router.restart()
        status, body = _get(router.url + "?worker_id=someone", cert)
        assert status == 200 and page_as_built(body) == (build / "index.html").read_bytes()  # from its data dir
        status, health = _get(router.url + "_health", cert)
        assert json.loads(health)["operator_connected"] is False
        cutter.release()
        again = pages[1].hello()  # the page reconnected to the new router process: same unit, same data
        assert again["type"] == "assigned" and again["unit_id"] == held["unit_id"], again
        assert pages[1].submit(valid_answer(again))["type"] == "submitted"
        assert channel.pusher.pushes == 1  # the restarted router still had the build

        # 3. kill -9 again, this time with its disk emptied: no task until the operator pushes it again.
        router.kill()
        shutil.rmtree(router.data_dir)
        router.start()
        _wait_until(lambda: channel.pusher.pushes == 2 and channel.pusher.served.is_set(), "the build is pushed again")
        status, body = _get(router.url + "?worker_id=someone", cert)
        assert status == 200 and page_as_built(body) == (build / "index.html").read_bytes()

        # 4. The operator stops at once while a page holds a unit, and a new launch of the task resumes the run: the
        # router still serves the build (nothing to push) and the page submits the unit it held.
        held = pages[2].hello()
        operator.stop_now()
        operator = OperatorThread(mephisto_settings, sqlite_database, config).start()
        channel = operator.operator.io.channel  # type: ignore[union-attr]
        assert operator.operator.stats.resumed and channel.pusher.pushes == 0
        assert pages[2].submit(valid_answer(held))["type"] == "submitted"

        # 5. A real browser does a unit over https:// and wss://.
        context = browser.new_context(ignore_https_errors=True)
        try:
            tab = context.new_page()
            tab.goto(router.url + "?worker_id=chromium")
            tab.locator("textarea[name=answer]").fill("typed in Chromium over TLS")
            submit_and_wait(tab, timeout_ms=20_000)
        finally:
            context.close()

        # 6. The pages do the rest; the run ends by itself. The page's hello after the last unit is refused by the
        # operator, or (once it left) by the router.
        refusal = _one_unit(pages[2])
        while refusal is None:
            refusal = _one_unit(pages[2])
        assert refusal["type"] == "refused" and refusal["reason"] == "run_over", refusal
        stats = operator.wait(60)
        assert stats.count(UnitStatus.COMPLETED) == ROWS

        # 7. After the run, the router tells pages that come late that it is over, instead of keeping them waiting
        # for an operator that is not coming: also in a browser, and after a kill -9 and a restart of the router.
        late = WssPage(router.url, "late", cert.cert, deadline=20)
        pages.append(late)
        assert late.hello()["reason"] == "run_over"
        context = browser.new_context(ignore_https_errors=True)
        try:
            tab = context.new_page()
            tab.goto(router.url + "?worker_id=late-in-chromium")
            tab.get_by_text("This task has ended").wait_for(timeout=20_000)
        finally:
            context.close()
        router.restart()
        status, health = _get(router.url + "_health", cert)
        assert json.loads(health) == {"status": "ok", "operator_connected": False, "run_over": True}
        late.close()
        assert late.hello()["reason"] == "run_over"
    finally:
        for page in pages:
            page.close()
        if operator is not None and operator.running:
            operator.stop_now()
        cutter.close()
        router.close()

    acknowledged = [key for page in pages for key in page.acknowledged]
    stored = [key for (key,) in Agent.select(Agent.submit_key).where(Agent.submit_key.is_null(False)).tuples()]
    assert len(stored) == len(set(stored)) == ROWS  # nothing stored twice
    assert set(acknowledged) <= set(stored) and len(acknowledged) == ROWS - 1  # the browser did one
    assert Unit.select().where(Unit.status == UnitStatus.COMPLETED).count() == ROWS
    chromium = Agent.get(Agent.worker == Worker.get(Worker.name == "chromium"))
    assert chromium.status == AgentStatus.COMPLETED and chromium.outputs["answer"] == "typed in Chromium over TLS"
    assert TaskRun.get().is_completed
    (stored_photo,) = AgentFile.select().join(Agent).where(Agent.unit == photo_unit)
    assert (mephisto_settings.data_dir / stored_photo.path).read_bytes() == PHOTO
    assert cutter.accepted >= 4  # the first channel, after the cut, after each restart


def test_a_run_whose_router_another_operator_takes_over_stops_and_says_so(
    tmp_path: Path,
    mephisto_settings: Settings,
    sqlite_database: Database,
    mephisto_register_plugin: Callable[[object], None],
) -> None:
    mephisto_register_plugin(StandaloneTestPlugin())
    cert = make_self_signed_certificate(tmp_path / "tls")
    router = StandaloneRouterProcess(tmp_path / "router-data", tmp_path / "router.log", certificate=cert)
    router.start()
    operator: OperatorThread | None = None
    try:
        config = load_task_config(_task(tmp_path, standalone_architect(router, cert.cert)), [])
        operator = OperatorThread(mephisto_settings, sqlite_database, config).start()

        async def another_operator() -> None:
            async def ignore(*_args: object) -> None:
                return None

            other = OperatorChannel(router.channel_url, TEST_ROUTER_SECRET, ignore, ignore, ca_file=cert.cert)
            await other.start()
            try:
                await asyncio.sleep(1.0)  # the first operator would have taken the router back by now
                assert other.connected
            finally:
                await other.stop()

        asyncio.run(another_operator())
        with pytest.raises(AssertionError) as failed:
            operator.wait(30)
        message = str(failed.value.__cause__)
        assert "took it over (a router serves one run at a time)" in message, message
        assert "launch the same task again to resume" in message, message
    finally:
        if operator is not None and operator.running:
            operator.stop_now()
        router.close()
