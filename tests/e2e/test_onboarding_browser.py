"""Onboarding in real Chromium: a worker who passes the test goes on to units, one who fails never gets any."""

from __future__ import annotations

from urllib.parse import urlsplit

ONBOARDING_HTML = """
<h2>Before you start</h2>
<p><label for="q1">Type the word <em>ready</em> to show you read the instructions:</label>
<input id="q1" name="q1" required></p>
"""


def test_onboarding_pass_then_units_and_fail_then_never(static_task, start_launch, browser):
    (static_task.parent / "onboarding.html").write_text(ONBOARDING_HTML)
    with static_task.open("a") as fh:
        fh.write('\n[task.onboarding]\nanswers = { q1 = "ready" }\n')
    launch = start_launch(
        str(static_task), "architect.port=0", "blueprint.onboarding_source=onboarding.html", "--no-panel"
    )
    parts = urlsplit(launch.wait_for_link())
    base = f"{parts.scheme}://{parts.netloc}/"

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}?worker_id=alice")
    page.locator("input[name=q1]").fill("ready")
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("You passed the qualification test").wait_for(timeout=15_000)
    page.get_by_role("button", name="Start the task").click()
    page.locator("select[name=frequency]").wait_for(timeout=15_000)  # a real unit now
    context.close()

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}?worker_id=bob")
    page.locator("input[name=q1]").fill("whatever")
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("did not pass").wait_for(timeout=15_000)
    page.goto(f"{base}?worker_id=bob")
    page.get_by_text("You did not pass the qualification test of this task").wait_for(timeout=15_000)
    assert page.locator("select[name=frequency]").count() == 0
    context.close()

    launch.stop_now()
    assert launch.wait(30) == 0, launch.output()
