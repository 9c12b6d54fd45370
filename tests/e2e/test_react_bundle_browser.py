"""The react template, built by npm in the test, served by the bundle blueprint: a visitor sees the preview, two
workers in Chromium pass the onboarding unit and answer through the useMephistoTask hook, the server refuses an
answer without the required label, and the export and the review app show both answers.

Set MEPHISTO_DOCS_SCREENSHOTS=1 to write the worker page and its review to docs/images/ (react-task*.png).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from e2e_helpers import review_app_page, submit_and_wait
from playwright.sync_api import expect

from mephisto_core.testing.pytest_plugin import unavailable

REPO = Path(__file__).resolve().parents[2]
# npm's cache outlives the test (a fixed folder), so later runs install from disk.
NPM_CACHE = Path(os.environ.get("MEPHISTO_TEST_NPM_CACHE", Path.home() / ".cache" / "mephisto-tests" / "npm"))
ANSWERS = {
    "alice": ("positive", "Warm soup and fresh bread."),
    "bob": ("negative", "Nobody answered."),
}


def _npm(task_dir: Path, *args: str) -> None:
    done = subprocess.run(
        ["npm", *args, "--cache", str(NPM_CACHE), "--no-audit", "--no-fund", "--prefer-offline"],
        cwd=task_dir,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"npm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def test_react_template_built_with_npm_is_answered_by_two_workers(
    mephisto_init, start_launch, mephisto_review, browser, cli_env, tmp_path
) -> None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        unavailable("npm and node are needed to build the react template (apt-get install nodejs npm)")
    task_file = mephisto_init("react", folder="react-study")
    task_dir = task_file.parent
    assert not (task_dir / "dist").exists()  # the user builds it
    refused = subprocess.run(
        [sys.executable, "-m", "mephisto_core.cli", "check", str(task_file)],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0 and "npm run build" in refused.stdout + refused.stderr
    _npm(task_dir, "install")
    _npm(task_dir, "run", "build")

    (task_dir / "onboarding.json").write_text('{"sentence": "What a lovely morning!"}', encoding="utf-8")
    with task_file.open("a", encoding="utf-8") as toml:
        toml.write('\n[task.onboarding]\nanswers = { label = "positive" }\n')

    launch = start_launch(str(task_file), "architect.port=0", "blueprint.onboarding_data=onboarding.json", "--no-panel")
    base = launch.wait_for_link().split("?")[0]
    screenshots = os.environ.get("MEPHISTO_DOCS_SCREENSHOTS") == "1"
    context = browser.new_context()
    page = context.new_page()
    page.goto(base)  # no worker: the mock provider's preview
    page.get_by_text("Accept the task to see your sentence.").wait_for(timeout=15_000)
    context.close()
    for name, (label, comment) in ANSWERS.items():
        context = browser.new_context(viewport={"width": 900, "height": 620})
        page = context.new_page()
        page.goto(f"{base}?worker_id={name}")
        expect(page.locator("blockquote.sentence")).to_have_text("What a lovely morning!", timeout=15_000)
        expect(page.get_by_role("heading")).to_have_text("Practice: How does this sentence sound?")
        page.get_by_label("positive").check()
        page.get_by_role("button", name="Submit").click()
        page.get_by_role("button", name="Start the task").click(timeout=15_000)
        sentence = page.locator("blockquote.sentence")
        expect(sentence).not_to_have_text("What a lovely morning!", timeout=15_000)
        # The server checks required_outputs whatever the page does: an answer without a label is refused.
        error = page.evaluate(
            "() => window.mephisto.handleSubmit({comment: 'no label'}).then(() => null, (e) => e.fields)"
        )
        assert error == {"label": "This answer is required."}
        # The ES module is served for pages without a bundler too, and sees the same client and socket.
        info = page.evaluate("async () => (await import('/mephisto-task.mjs')).whenReady()")
        assert (info["workerId"], info["isPreview"], info["connected"]) == (name, False, True)
        assert info["initialTaskData"]["sentence"] == sentence.inner_text()
        page.get_by_label(label).check()
        page.get_by_label("Why? (optional)").fill(comment)
        if screenshots and name == "alice":
            page.screenshot(path=str(REPO / "docs" / "images" / "react-task.png"))
        submit_and_wait(page)
        context.close()
    launch.stop_cleanly()

    exported = subprocess.run(
        [sys.executable, "-m", "mephisto_core.cli", "export", "--task", "react-study"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    got = {r["worker_id"]: (r["outputs"]["label"], r["outputs"]["comment"]) for r in records}
    assert got == ANSWERS
    assert all(r["inputs"]["sentence"] for r in records)

    with review_app_page(browser, mephisto_review().wait_for_link(), width=1100, height=760) as page:
        expect(page.locator("body")).to_contain_text("Warm soup and fresh bread.", timeout=15_000)
        if screenshots:
            page.screenshot(path=str(REPO / "docs" / "images" / "react-task-review.png"))
