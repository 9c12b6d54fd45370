"""`mephisto launch --simulate` with a provider that cannot make a simulated worker's link refuses at once."""

from __future__ import annotations

from cli_helpers import assert_clean_failure

from mephisto_core.settings import Settings


def test_simulate_with_a_provider_that_cannot_simulate_refuses_before_launching(
    run_cli, test_plugin, task_dir, isolated_settings: Settings
):
    # The test provider identifies nobody from `?worker_id=NAME` and does not say how its links are made.
    out = assert_clean_failure(run_cli("launch", task_dir / "task.toml", "--simulate", "2", "--no-panel"))

    assert "provider 'clitest_pay' cannot run simulated workers" in out
    assert "Launch without --simulate" in out
    assert not isolated_settings.sqlite_path.exists()  # nothing was launched: no database, no run


def test_the_default_simulated_link_is_the_mock_style_when_the_provider_reads_it(test_plugin, tmp_path):
    from mephisto_core.abstractions import WorkerIdentity

    class WorkerIdProvider(test_plugin.ClitestProvider):
        def identify_worker(self, params):  # type: ignore[no-untyped-def]
            return WorkerIdentity(params.get("worker_id"))

    provider = WorkerIdProvider(WorkerIdProvider.Args(), "lab-account", {}, tmp_path)
    assert provider.simulated_worker_params("sim-3") == {"worker_id": "sim-3"}
