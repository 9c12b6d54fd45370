"""The real `mephisto` command group with the prolific plugin: register, check, prolific studies/cleanup/message."""

from __future__ import annotations

from pathlib import Path

import pytest
from mephisto_provider_prolific.provider import ProlificProvider
from mephisto_provider_prolific.testing import FakeProlific
from prolific_provider_helpers import WORKER_URL, fake, keys_for, make_provider, make_run

from mephisto_core.data_model import Database

__all__ = ["fake"]


@pytest.fixture
def registered(fake: FakeProlific, mephisto_cli: object) -> FakeProlific:
    result = mephisto_cli("register", "prolific", "prolific", f"api_key={fake.api_key}")  # type: ignore[operator]
    assert result.exit_code == 0, result.output
    return fake


def test_register_checks_the_token_with_prolific_and_never_prints_it(fake: FakeProlific, mephisto_cli: object) -> None:
    bad = mephisto_cli("register", "prolific", "lab", "api_key=not-the-token-42")  # type: ignore[operator]
    assert bad.exit_code != 0
    assert "did not accept this API token" in bad.output
    assert "not-the-token-42" not in bad.output
    good = mephisto_cli("register", "prolific", "lab", f"api_key={fake.api_key}")  # type: ignore[operator]
    assert good.exit_code == 0, good.output
    assert fake.api_key not in good.output
    listed = mephisto_cli("requesters")  # type: ignore[operator]
    assert "lab" in listed.output and fake.api_key not in listed.output
    assert len(fake.requests_to("GET", "users/me/")) == 2


def write_task(tmp_path: Path) -> Path:
    task = tmp_path / "task.toml"
    (tmp_path / "page.html").write_text("<p>${text}</p><input name='label'>")
    (tmp_path / "data.csv").write_text("text\nhello\nworld\n")
    task.write_text(
        "\n".join(
            [
                "[task]",
                'name = "prolific-check"',
                'title = "Label words"',
                "reward = 0.50",
                "[blueprint]",
                'type = "static"',
                'task_source = "page.html"',
                'data_csv = "data.csv"',
                "[architect]",
                'type = "local"',
                "[provider]",
                'type = "prolific"',
            ]
        )
    )
    return task


def test_check_shows_the_fee_and_the_balance(registered: FakeProlific, mephisto_cli: object, tmp_path: Path) -> None:
    result = mephisto_cli("check", write_task(tmp_path))  # type: ignore[operator]
    assert result.exit_code == 0, result.output
    assert "Prolific service fee 33.33%" in result.output
    assert "10000" in result.output.replace(",", "")  # the fake's 1,000,000 pence balance, in pounds


def test_studies_cleanup_and_message(
    registered: FakeProlific,
    mephisto_cli: object,
    mephisto_rows_database: Database,
    mephisto_settings: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # the cleanup table on one line per leftover
    fake = registered
    data_dir = Path(mephisto_settings.data_dir)  # type: ignore[attr-defined]
    run, units = make_run(mephisto_rows_database, 2)
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, WORKER_URL)
    provider.publish_units(units, WORKER_URL, keys_for(units))
    study_id = fake.studies()[0]["id"]
    visit = fake.start(study_id, "m0000000000000000000001")

    listed = mephisto_cli("prolific", "studies")  # type: ignore[operator]
    assert listed.exit_code == 0, listed.output
    assert study_id in listed.output and "ACTIVE" in listed.output and "1/2" in listed.output

    sent = mephisto_cli("prolific", "message", visit.participant_id, "Thanks for joining!", "--study", study_id)  # type: ignore[operator]
    assert sent.exit_code == 0, sent.output
    assert [m["body"] for m in fake.messages()] == ["Thanks for joining!"]

    dry = mephisto_cli("prolific", "cleanup", "--dry-run")  # type: ignore[operator]
    assert dry.exit_code == 0, dry.output
    assert study_id in dry.output and "1 item(s) left behind" in dry.output
    assert fake.study(study_id)["status"] == "ACTIVE"
    done = mephisto_cli("prolific", "cleanup", "--yes")  # type: ignore[operator]
    assert done.exit_code == 0, done.output
    assert fake.study(study_id)["status"] in ("AWAITING REVIEW", "COMPLETED")
    again = mephisto_cli("prolific", "cleanup", "--dry-run")  # type: ignore[operator]
    assert study_id not in again.output and "1 item(s)" not in again.output
    state = ProlificProvider.data_dir_under(data_dir)
    assert (state / "runs" / f"{run.id}.json").exists()


def test_commands_without_a_registered_token_say_what_to_do(fake: FakeProlific, mephisto_cli: object) -> None:
    result = mephisto_cli("prolific", "studies")  # type: ignore[operator]
    assert result.exit_code != 0
    assert "mephisto register prolific prolific api_key=" in result.output


def test_check_refuses_a_task_served_over_http_to_real_prolific(
    mephisto_cli: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEPHISTO_PROLIFIC_API_URL", raising=False)
    result = mephisto_cli("check", write_task(tmp_path))  # type: ignore[operator]
    assert result.exit_code != 0
    assert "sends workers only to a public https:// address" in result.output
