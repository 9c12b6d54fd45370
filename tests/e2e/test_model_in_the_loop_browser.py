"""Real Chromium through the model-in-the-loop template: the page calls the task's Python "model", a call that
runs past the task's timeout is shown to the worker, and every call is stored, shown in review and exported."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from e2e_helpers import mephisto, review_app_page, submit_and_wait
from playwright.sync_api import expect

from mephisto_core.data_model import open_database
from mephisto_core.data_model.procedure_calls import ProcedureCall

# The template's model, made slow for sentences that say "slowly" (written next to the template's procedures.py).
SLOW_PROCEDURES = """
import importlib.util, pathlib, time
from mephisto_core.procedures import procedure

_spec = importlib.util.spec_from_file_location("template_procedures", pathlib.Path(__file__).with_name("procedures.py"))
_template = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_template)

@procedure(name="score")
def slow_score(args):
    if "slowly" in args.get("text", ""):
        time.sleep(3)
    return _template.score(args)
"""


def test_model_in_the_loop_answers_times_out_stores_reviews_and_exports(
    mephisto_init, start_launch, mephisto_review, browser, mephisto_settings, cli_env
):
    task = mephisto_init("model-in-the-loop")
    (task.parent / "slow_procedures.py").write_text(SLOW_PROCEDURES)
    launch = start_launch(
        str(task),
        "architect.port=0",
        "task.procedures.module=slow_procedures.py",
        "task.procedures.timeout_seconds=1",
        "--no-panel",
    )
    parts = urlsplit(launch.wait_for_link())
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{parts.scheme}://{parts.netloc}/?worker_id=alice")
    sentence = page.locator("textarea[name=text]")
    ask = page.get_by_role("button", name="Ask the model")

    sentence.fill("The food was slowly cooked")
    ask.click()
    expect(page.locator("#model-error")).to_contain_text("took longer than 1 s", timeout=15_000)

    sentence.fill("I loved the delicious soup")
    ask.click()
    expect(page.locator("#model-answer")).to_contain_text("positive (score 0.67)", timeout=15_000)
    expect(page.locator("#model-error")).to_be_hidden()
    page.get_by_label("Yes").check()
    submit_and_wait(page)
    context.close()
    launch.stop_cleanly()

    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        calls = list(ProcedureCall.select().order_by(ProcedureCall.id))
        assert [(c.name, c.error_code) for c in calls] == [("score", "procedure_timeout"), ("score", None)]
        assert calls[1].args == {"text": "I loved the delicious soup"}
        assert calls[1].result == {"label": "positive", "score": 0.67, "evidence": ["loved", "delicious"]}
        assert calls[0].duration_ms >= 1000
    finally:
        db.close()

    exported = mephisto("export", "--task", task.parent.name, "--status", "completed", env=cli_env)
    assert exported.returncode == 0, exported.stderr
    (unit,) = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    assert unit["outputs"]["model_label"] == "positive" and unit["outputs"]["verdict"] == "right"
    assert [(c["name"], c["error_code"]) for c in unit["procedure_calls"]] == [
        ("score", "procedure_timeout"),
        ("score", None),
    ]
    assert "took longer than 1 s" in unit["procedure_calls"][0]["error"]

    with review_app_page(browser, mephisto_review().wait_for_link()) as viewer:
        viewer.get_by_role("button", name=f"Open unit {unit['unit_id']}").click()
        calls_table = viewer.locator("#procedure-calls")
        expect(calls_table.locator("caption")).to_have_text("Procedure calls (2)")
        expect(calls_table.locator("tr.procedure-call").nth(0)).to_contain_text("procedure_timeout")
        expect(calls_table.locator("tr.procedure-call").nth(1)).to_contain_text('"label":"positive"')
