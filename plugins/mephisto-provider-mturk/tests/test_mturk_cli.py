"""The real `mephisto` commands with the MTurk plugin installed: register, requesters, mturk ..., check, cleanup."""

from __future__ import annotations

from mephisto_provider_mturk.testing import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY
from mturk_test_helpers import WORKER_URL, give_config, make_provider


def _register(mephisto_cli, name: str = "lab", secret: str = DEFAULT_SECRET_ACCESS_KEY):  # type: ignore[no-untyped-def]
    return mephisto_cli(
        "register", "mturk_sandbox", name, f"access_key_id={DEFAULT_ACCESS_KEY_ID}", f"secret_access_key={secret}"
    )


def test_register_checks_with_mturk_and_never_prints_the_secret(fake, mephisto_cli, mephisto_settings) -> None:  # type: ignore[no-untyped-def]
    wrong = _register(mephisto_cli, secret="not-the-secret-123")
    assert wrong.exit_code != 0
    assert "could not check the credentials" in wrong.output and "not-the-secret-123" not in wrong.output
    assert "lab" not in mephisto_settings.config_file.read_text() if mephisto_settings.config_file.exists() else True
    done = _register(mephisto_cli)
    assert done.exit_code == 0, done.output
    assert DEFAULT_SECRET_ACCESS_KEY not in done.output
    listed = mephisto_cli("requesters")
    assert "lab" in listed.output and DEFAULT_SECRET_ACCESS_KEY not in listed.output
    assert fake.requests("GetAccountBalance")
    half = mephisto_cli("register", "mturk_sandbox", "half", f"access_key_id={DEFAULT_ACCESS_KEY_ID}")
    assert half.exit_code != 0 and "either access_key_id" in half.output


def test_mturk_commands(fake, mephisto_cli, mephisto_settings, make_submitted_run) -> None:  # type: ignore[no-untyped-def]
    # A run set up and published (database rows first: the commands close the test's database after them).
    submitted = make_submitted_run(2, provider_type="mturk_sandbox", requester_name="lab")
    run = give_config(submitted.run)
    provider = make_provider(mephisto_settings.data_dir)
    provider.setup_resources(run, WORKER_URL)
    provider.publish_units(submitted.units, WORKER_URL, {u.id: f"k{u.id}" for u in submitted.units})
    assert _register(mephisto_cli).exit_code == 0
    balance = mephisto_cli("mturk", "balance")
    assert balance.exit_code == 0 and "$10000.00 available" in balance.output and "sandbox" in balance.output
    hits = mephisto_cli("mturk", "hits", "--outstanding")
    assert hits.exit_code == 0 and hits.output.count(f"run {run.id}  Assignable") == 2, hits.output
    assert "0 HIT(s) of this installation (none)" in mephisto_cli("mturk", "hits", "--run", str(run.id + 1)).output
    # The run is not served by any launch: its open HITs are leftovers.
    dry = mephisto_cli("mturk", "cleanup", "--dry-run")
    assert dry.exit_code == 0 and dry.output.count("open HIT") == 2, dry.output
    assert all(status == "Assignable" for status in fake.snapshot().hit_statuses.values())
    removed = mephisto_cli("cleanup", "--provider", "mturk_sandbox", "--yes")
    assert removed.exit_code == 0 and removed.output.count("Removed") == 2, removed.output
    assert all(status != "Assignable" for status in fake.snapshot().hit_statuses.values())
    assert "0 HIT(s)" in mephisto_cli("mturk", "hits", "--outstanding").output
    # MTurk delivers messages only to workers the requester reviewed; it says so per worker.
    sent = mephisto_cli("mturk", "notify", "AWORKER1", "--subject", "Hi", "--message", "Thanks!")
    assert sent.exit_code != 0 and "sent to 0 of 1" in sent.output and "not sent: AWORKER1" in sent.output
    unknown = mephisto_cli("mturk", "balance", "--requester", "nobody")
    assert unknown.exit_code != 0 and "no MTurk requester named 'nobody'" in unknown.output


def test_check_shows_fee_balance_and_requirements(fake, mephisto_cli, mephisto_init) -> None:  # type: ignore[no-untyped-def]
    assert _register(mephisto_cli).exit_code == 0
    task = mephisto_init("static")
    checked = mephisto_cli("check", task, "provider.type=mturk_sandbox", "provider.requester_name=lab")
    assert checked.exit_code == 0, checked.output
    assert "20%" in checked.output and "10000" in checked.output
    live = mephisto_cli("check", task, "provider.type=mturk", "provider.requester_name=lab")
    assert live.exit_code != 0 and "https" in live.output, live.output


def test_wut_describes_the_provider(mephisto_cli) -> None:  # type: ignore[no-untyped-def]
    described = mephisto_cli("wut", "provider=mturk")
    assert described.exit_code == 0 and "allowed_locales" in described.output


def test_the_end_of_launch_check_asks_mturk_only_about_its_own_runs(fake, mephisto_settings, sqlite_database) -> None:  # type: ignore[no-untyped-def]
    from mephisto_provider_mturk.cleanup import SandboxOpenHitsCleaner
    from mturk_test_helpers import CREDENTIALS

    from mephisto_core.abstractions import CleanupScope
    from mephisto_core.settings import store_requester_credentials

    store_requester_credentials(mephisto_settings.config_file, "lab", "mturk_sandbox", dict(CREDENTIALS))

    def scope(run_id: int | None) -> CleanupScope:
        return CleanupScope(
            sqlite_database, mephisto_settings.data_dir, mephisto_settings.runs_dir, run_id, lambda _run: False
        )

    cleaner = SandboxOpenHitsCleaner()
    assert cleaner.find(scope(7)) == [] and cleaner.find(scope(None)) == []
    assert fake.requests() == []  # no run was ever set up at MTurk here: nothing to ask


def test_register_reads_the_secret_from_the_environment(fake, mephisto_cli, mephisto_settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MEPHISTO_SECRET_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
    monkeypatch.setenv("MEPHISTO_SECRET_SECRET_ACCESS_KEY", DEFAULT_SECRET_ACCESS_KEY)
    done = mephisto_cli("register", "mturk_sandbox", "lab")
    assert done.exit_code == 0, done.output
    assert "shell history" not in done.output  # nothing secret was on the command line
    assert DEFAULT_ACCESS_KEY_ID not in mephisto_cli("requesters").output  # the key id is masked as well
    assert "$10000.00" in mephisto_cli("mturk", "balance").output
