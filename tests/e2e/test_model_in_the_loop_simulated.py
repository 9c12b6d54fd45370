"""`mephisto launch --simulate` on the model-in-the-loop template: the bots call the model (the module's
SIMULATED_CALLS) on every unit before they submit, and each call is stored with its unit."""

from __future__ import annotations

from mephisto_core.data_model import Agent, open_database
from mephisto_core.data_model.procedure_calls import ProcedureCall


def test_simulated_workers_call_the_procedure_on_every_unit(mephisto_init, start_launch, mephisto_settings):
    task = mephisto_init("model-in-the-loop")
    launch = start_launch(str(task), "architect.port=0", "--simulate", "2", "--no-panel")
    assert launch.wait(90) == 0, launch.output()
    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        calls = list(ProcedureCall.select())
        assert len(calls) == Agent.select().count() == 3
        assert {c.agent_id for c in calls} == {a.id for a in Agent.select()}
        assert all(c.error_code is None and c.result["label"] == "neutral" for c in calls)
    finally:
        db.close()
