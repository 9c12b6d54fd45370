"""A whole launch at MEPHISTO_LOG_LEVEL=DEBUG with SQL logging on writes no agent token and no answer to its log."""

from __future__ import annotations

from mephisto_core.data_model import Agent, open_database
from mephisto_core.settings import Settings


def test_debug_launch_log_holds_no_token_and_no_submission(
    static_task, start_launch, cli_env: dict[str, str], mephisto_settings: Settings
) -> None:
    cli_env.update(MEPHISTO_LOG_LEVEL="DEBUG", MEPHISTO_LOG_SQL="1")

    launch = start_launch(str(static_task), "architect.port=0", "--simulate", "2", "--no-panel")
    assert launch.wait(90) == 0, launch.output()

    log = launch.output()
    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        agents = list(Agent.select())
        secrets = [a.token for a in agents] + [a.outputs["answer"] for a in agents]
    finally:
        db.close()
    assert len(agents) == 4
    leaked = [value for value in secrets if value in log]
    assert leaked == []
    assert "[parameters not logged]" in log  # SQL was logged: the check above is not vacuous
