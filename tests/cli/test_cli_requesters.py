"""`mephisto register` and `mephisto requesters`: credentials checked, stored 0600, never shown."""

from __future__ import annotations

import json
import stat
import tomllib

from cli_helpers import assert_clean_failure

from mephisto_core.abstractions import RequesterArgs
from mephisto_core.cli.context import open_settings_database
from mephisto_core.data_model import Requester
from mephisto_core.settings import Settings, store_requester_credentials

SECRET = "sk-live-DO-NOT-PRINT-1234"


def database_requesters(settings: Settings) -> list[tuple[str, str]]:
    database = open_settings_database(settings)
    try:
        return [(r.name, r.provider_type) for r in Requester.select().order_by(Requester.name)]
    finally:
        database.close()


def user_config(settings: Settings) -> dict[str, object]:
    return tomllib.loads(settings.config_file.read_text(encoding="utf-8"))


def test_register_stores_checked_credentials_in_a_private_file_and_the_database(
    run_cli, test_plugin, isolated_settings
):
    result = run_cli("register", "clitest_pay", "lab", f"api_key={SECRET}", "region=eu-west", "max_spend=12.5")

    assert result.exit_code == 0, result.output
    assert "Registered requester 'lab' for provider 'clitest_pay'" in result.output
    assert SECRET not in result.output
    mode = stat.S_IMODE(isolated_settings.config_file.stat().st_mode)
    assert mode == 0o600, oct(mode)
    stored = user_config(isolated_settings)["requesters"]["lab"]  # type: ignore[index]
    assert stored == {"provider": "clitest_pay", "api_key": SECRET, "region": "eu-west", "max_spend": 12.5}
    assert database_requesters(isolated_settings) == [("lab", "clitest_pay")]


def test_register_again_replaces_the_credentials_and_keeps_one_row(run_cli, test_plugin, isolated_settings):
    assert run_cli("register", "clitest_pay", "lab", "api_key=first").exit_code == 0

    result = run_cli("register", "clitest_pay", "lab", "api_key=second")

    assert result.exit_code == 0, result.output
    stored = user_config(isolated_settings)["requesters"]["lab"]  # type: ignore[index]
    assert stored == {"provider": "clitest_pay", "api_key": "second", "region": "us-east"}
    assert database_requesters(isolated_settings) == [("lab", "clitest_pay")]


def test_register_without_name_shows_the_credentials_the_provider_takes(run_cli, test_plugin, isolated_settings):
    result = run_cli("register", "clitest_pay")

    assert result.exit_code == 0, result.output
    assert "credentials of provider 'clitest_pay'" in result.output
    assert "The account's API key." in result.output
    assert "Where the account lives." in result.output
    assert not isolated_settings.config_file.exists()


def test_register_missing_credential_is_named(run_cli, test_plugin, isolated_settings):
    out = assert_clean_failure(run_cli("register", "clitest_pay", "lab", "region=eu"))
    assert "credential 'api_key' is required but missing" in out
    assert "See what it takes: mephisto register clitest_pay" in out
    assert not isolated_settings.config_file.exists()


def test_register_unknown_credential_lists_the_known_ones(run_cli, test_plugin, isolated_settings):
    out = assert_clean_failure(run_cli("register", "clitest_pay", "lab", "api_key=x", "apikey2=y"))
    assert "'apikey2' is not a credential of provider 'clitest_pay'; it takes: api_key, region, max_spend" in out


def test_register_wrong_credential_type_says_what_was_found(run_cli, test_plugin, isolated_settings):
    out = assert_clean_failure(run_cli("register", "clitest_pay", "lab", "api_key=x", "max_spend=lots"))
    assert "credential 'max_spend'" in out
    assert "found 'lots'" in out


def test_register_malformed_pair_is_a_usage_error_that_does_not_echo_it(run_cli, test_plugin, isolated_settings):
    out = assert_clean_failure(run_cli("register", "clitest_pay", "lab", "region=eu", SECRET), exit_code=2)
    assert "credential argument 2 is not of the form key=value" in out
    assert SECRET not in out


def test_register_repeated_key_is_a_usage_error(run_cli, test_plugin):
    out = assert_clean_failure(run_cli("register", "clitest_pay", "lab", "api_key=a", "api_key=b"), exit_code=2)
    assert "credential 'api_key' is given twice" in out


def test_register_bad_requester_name_is_a_usage_error(run_cli, test_plugin):
    out = assert_clean_failure(run_cli("register", "clitest_pay", "my lab", "api_key=a"), exit_code=2)
    assert "requester name 'my lab' must start with a letter or digit" in out


def test_register_provider_refusal_is_reported(run_cli, test_plugin, isolated_settings):
    out = assert_clean_failure(run_cli("register", "clitest_pay", "lab", "api_key=rejected-by-platform"))
    assert "the platform refused this API key" in out
    assert not isolated_settings.config_file.exists()


def test_register_unknown_provider_lists_installed_ones(run_cli, test_plugin):
    out = assert_clean_failure(run_cli("register", "nosuchprovider", "lab", "api_key=a"))
    assert "unknown provider type 'nosuchprovider'; installed provider types:" in out
    assert "clitest_pay" in out


def test_register_name_taken_by_another_provider_is_refused(run_cli, test_plugin, isolated_settings):
    database = open_settings_database(isolated_settings)
    try:
        Requester.create(name="lab", provider_type="otherprovider")
    finally:
        database.close()

    out = assert_clean_failure(run_cli("register", "clitest_pay", "lab", "api_key=a"))
    assert "requester 'lab' is already registered for provider 'otherprovider'" in out
    assert not isolated_settings.config_file.exists()


def test_requesters_lists_requesters_with_secrets_masked(run_cli, test_plugin):
    assert run_cli("register", "clitest_pay", "lab", f"api_key={SECRET}", "region=eu-west").exit_code == 0

    table = run_cli("requesters")
    as_json = run_cli("requesters", "--json")

    assert table.exit_code == 0, table.output
    assert as_json.exit_code == 0, as_json.output
    for result in (table, as_json):
        assert SECRET not in result.output
    line = next(line for line in table.output.splitlines() if " lab " in line)
    assert "clitest_pay" in line
    assert "api_key = ********" in table.output
    assert 'region = "eu-west"' in table.output
    (record,) = json.loads(as_json.stdout)
    assert record["name"] == "lab"
    assert record["provider"] == "clitest_pay"
    assert record["in_database"] is True
    assert record["created_at"]
    assert record["credentials"] == {"api_key": "********", "region": "eu-west"}


def test_requesters_masks_every_value_when_the_provider_is_not_installed(run_cli, test_plugin, isolated_settings):
    store_requester_credentials(
        isolated_settings.config_file,
        "old",
        "uninstalledprovider",
        {"region": "plain-looking", "pin": "4321"},
    )

    result = run_cli("requesters", "--json")

    assert result.exit_code == 0, result.output
    assert "plain-looking" not in result.output
    assert "4321" not in result.output
    (record,) = json.loads(result.stdout)
    assert record == {
        "name": "old",
        "provider": "uninstalledprovider",
        "created_at": None,
        "in_database": False,
        "credentials": {"region": "********", "pin": "********"},
    }


def test_requesters_masks_keys_the_provider_does_not_declare(run_cli, test_plugin, isolated_settings):
    store_requester_credentials(
        isolated_settings.config_file, "lab", "clitest_pay", {"region": "eu", "legacy_field": "hidden-value"}
    )

    result = run_cli("requesters", "--json")

    assert "hidden-value" not in result.output
    (record,) = json.loads(result.stdout)
    assert record["credentials"] == {"region": "eu", "legacy_field": "********"}


def test_requesters_with_none_registered_says_how_to_register(run_cli):
    result = run_cli("requesters")

    assert result.exit_code == 0, result.output
    assert "No requesters registered" in result.output
    assert "mephisto register PROVIDER NAME" in result.output


def test_provider_without_credentials_registers_by_name_alone(run_cli, test_plugin, monkeypatch, isolated_settings):
    monkeypatch.setattr(test_plugin.ClitestProvider, "RequesterArgs", RequesterArgs)

    shown = run_cli("register", "clitest_pay")
    result = run_cli("register", "clitest_pay", "solo")

    assert "Provider 'clitest_pay' takes no credentials" in shown.output
    assert result.exit_code == 0, result.output
    assert user_config(isolated_settings)["requesters"] == {"solo": {"provider": "clitest_pay"}}
    assert database_requesters(isolated_settings) == [("solo", "clitest_pay")]
