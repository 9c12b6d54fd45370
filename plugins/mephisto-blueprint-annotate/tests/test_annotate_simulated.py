"""`mephisto init --template annotate`, `mephisto launch --simulate 2`, then the export: one CSV column per
scheme and the agreement numbers of the span and Likert schemes (real processes, real SQLite)."""

from __future__ import annotations

import csv
import io
import json

from mephisto_core.testing.processes import run_mephisto


def test_template_runs_with_simulated_workers_and_exports_per_scheme(mephisto_init, mephisto_launch, mephisto_cli_env):
    task = mephisto_init("annotate", folder="sentiment")
    checked = run_mephisto("check", task, env=mephisto_cli_env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    launch = mephisto_launch(task, "architect.port=0", "--simulate", "2", "--no-panel")
    assert launch.wait(120) == 0, launch.output()
    assert "All 8 units are done" in launch.output()

    exported = run_mephisto("export", "--task", "sentiment", "--format", "csv", env=mephisto_cli_env)
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len(rows) == 8
    columns = set(rows[0])
    assert {"outputs.sentiment", "outputs.opinions", "outputs.confidence", "inputs.review"} <= columns
    for row in rows:
        assert row["outputs.sentiment"] in {"positive", "neutral", "negative"}
        assert row["outputs.confidence"] in {"1", "2", "3", "4", "5"}
        for span in json.loads(row["outputs.opinions"]):
            assert row["inputs.review"][span["start"] : span["end"]] == span["text"]

    agreement = run_mephisto("export", "--task", "sentiment", "--agreement", "--format", "json", env=mephisto_cli_env)
    assert agreement.returncode == 0, agreement.stderr
    numbers = json.loads(agreement.stdout)
    assert numbers["opinions"]["measure"] == "span overlap" and numbers["opinions"]["assignments"] == 4
    assert 0 <= numbers["opinions"]["percent"] <= 100 and 0 <= numbers["opinions"]["token_percent"] <= 100
    assert "mean_absolute_difference" in numbers["confidence"]
    assert 0 <= numbers["sentiment"]["percent"] <= 100

    aggregated = run_mephisto("export", "--task", "sentiment", "--aggregate", "majority", env=mephisto_cli_env)
    assert aggregated.returncode == 0, aggregated.stderr
    first = json.loads(aggregated.stdout.splitlines()[0])
    assert set(first["aggregate"]) == {"sentiment", "opinions", "confidence"}
    assert first["aggregate"]["confidence"]["answer"] in range(1, 6)
    review = first["inputs"]["review"]
    for span in first["aggregate"]["opinions"]["answer"]:
        assert review[span["start"] : span["end"]] == span["text"]
