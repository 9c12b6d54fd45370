"""Real Chromium against three routers on one port: a page whose socket drops reconnects through whichever router
the kernel picks, keeps its unit, and its answer is stored once."""

from __future__ import annotations

from urllib.parse import urlsplit

from e2e_helpers import submit_and_wait

from mephisto_core.data_model import Agent, AgentStatus, Worker, open_database

# Records the page's sockets, so that the test can drop the open one as a lost connection would.
SOCKET_LOG = """
window.__sockets = [];
const RealSocket = window.WebSocket;
window.WebSocket = class extends RealSocket {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""
OPEN_SOCKETS = "() => window.__sockets.filter((s) => s.readyState === WebSocket.OPEN).length"
DROP_OPEN_SOCKET = "() => window.__sockets.filter((s) => s.readyState === WebSocket.OPEN).forEach((s) => s.close(4001))"
DROPS = 6


def test_a_page_keeps_its_unit_across_reconnects_to_any_of_three_routers(
    static_task, start_launch, browser, mephisto_settings
):
    launch = start_launch(str(static_task), "architect.port=0", "architect.router_processes=3", "--no-panel")
    parts = urlsplit(launch.wait_for_link())
    context = browser.new_context()
    context.add_init_script(SOCKET_LOG)
    page = context.new_page()
    page.goto(f"{parts.scheme}://{parts.netloc}/?worker_id=dana")
    page.locator("textarea[name=answer]").wait_for(timeout=15_000)
    agent = page.evaluate("() => mephisto.agentId")
    topic = page.locator("input[name=topic]").input_value()

    for drop in range(1, DROPS + 1):
        # 4001: the code the page itself uses when it gives up on a socket; it then connects again and says hello
        # with its token, each time through a new TCP connection that any of the three routers may take.
        page.evaluate(DROP_OPEN_SOCKET)
        page.wait_for_function(f"() => window.__sockets.length > {drop} && ({OPEN_SOCKETS})() === 1", timeout=20_000)
        page.wait_for_function(f"() => mephisto.agentId === {agent}", timeout=20_000)
    assert page.locator("input[name=topic]").input_value() == topic

    page.locator("select[name=frequency]").select_option("daily")
    page.locator("textarea[name=answer]").fill("Answered after six reconnects.")
    submit_and_wait(page)
    context.close()
    launch.stop_cleanly()

    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        (stored,) = Agent.select().where(Agent.worker == Worker.get(Worker.name == "dana"))
        assert stored.id == agent and stored.status == AgentStatus.COMPLETED
        assert stored.outputs["answer"] == "Answered after six reconnects."
        assert stored.outputs["topic"] == topic == stored.assignment.inputs["topic"]
    finally:
        db.close()
