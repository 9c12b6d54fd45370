"""Secrets declared by type or marker are never printed, and `register` takes them without the command line.

The provider (secret_test_plugin) calls its secrets `account_pin` and `passphrase`: names no word list catches.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from types import ModuleType

import pytest
import secret_test_plugin
from cli_helpers import assert_clean_failure
from click.testing import CliRunner, Result
from pydantic import BaseModel, Field, SecretStr

from mephisto_core.abstractions import redact, secret_field_names
from mephisto_core.cli import cli
from mephisto_core.settings import Settings, store_requester_credentials

PIN = "4921-7730"
# Quotes and a backslash: repr() and JSON escape them, and the escaped forms must be hidden too.
PASSPHRASE = 'it\'s a "correct" horse\\battery'
SALT = "salt-9a8b7c"
SECRETS = (PIN, PASSPHRASE, SALT)


@pytest.fixture(autouse=True)
def secret_plugin(mephisto_register_plugin: Callable[[ModuleType], None]) -> ModuleType:
    mephisto_register_plugin(secret_test_plugin)
    return secret_test_plugin


@pytest.fixture(autouse=True)
def no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("ACCOUNT_PIN", "PASSPHRASE", "SIGNING_SALT"):
        monkeypatch.delenv(f"MEPHISTO_SECRET_{key}", raising=False)


def mephisto(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def stored_credentials(settings: Settings, name: str = "lab") -> dict[str, object]:
    config = tomllib.loads(settings.config_file.read_text(encoding="utf-8"))
    return config["requesters"][name]  # type: ignore[no-any-return]


def assert_no_secret_in(text: str) -> None:
    leaked = [s for s in SECRETS if s in text or repr(s)[1:-1] in text or json.dumps(s)[1:-1] in text]
    assert leaked == [], text


def set_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEPHISTO_SECRET_ACCOUNT_PIN", PIN)
    monkeypatch.setenv("MEPHISTO_SECRET_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("MEPHISTO_SECRET_SIGNING_SALT", SALT)


def test_register_reads_secrets_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, isolated_settings: Settings
) -> None:
    set_secret_env(monkeypatch)

    result = mephisto("register", "secretpay", "lab", "account_name=acme")

    assert result.exit_code == 0, result.output
    assert_no_secret_in(result.output)
    assert "Warning" not in result.output
    assert stored_credentials(isolated_settings) == {
        "provider": "secretpay",
        "account_name": "acme",
        "account_pin": PIN,
        "passphrase": PASSPHRASE,
        "signing_salt": SALT,
    }


def test_register_asks_for_missing_required_secrets_without_echoing_them(isolated_settings: Settings) -> None:
    result = mephisto("register", "secretpay", "lab", "account_name=acme", input=f"{PIN}\n{PASSPHRASE}\n")

    assert result.exit_code == 0, result.output
    assert "account_pin of requester 'lab' (secretpay, not echoed)" in result.output
    assert "passphrase of requester 'lab'" in result.output
    assert "signing_salt" not in result.output  # optional: not asked for
    assert_no_secret_in(result.output)
    stored = stored_credentials(isolated_settings)
    assert (stored["account_pin"], stored["passphrase"]) == (PIN, PASSPHRASE)
    assert "signing_salt" not in stored


def test_register_with_no_input_names_every_way_to_give_the_secret(isolated_settings: Settings) -> None:
    out = assert_clean_failure(mephisto("register", "secretpay", "lab", "account_name=acme", input=""))

    assert "credential 'account_pin' is required but missing: set MEPHISTO_SECRET_ACCOUNT_PIN" in out
    assert "give account_pin=VALUE" in out
    assert not isolated_settings.config_file.exists()


def test_register_secret_on_the_command_line_works_but_warns(
    monkeypatch: pytest.MonkeyPatch, isolated_settings: Settings
) -> None:
    set_secret_env(monkeypatch)

    result = mephisto("register", "secretpay", "lab", "account_name=acme", f"account_pin={PIN}")

    assert result.exit_code == 0, result.output
    assert "Warning: account_pin was given on the command line" in result.stderr
    assert "set MEPHISTO_SECRET_ACCOUNT_PIN" in result.stderr
    assert_no_secret_in(result.output)
    assert stored_credentials(isolated_settings)["account_pin"] == PIN


@pytest.mark.parametrize("account", [secret_test_plugin.REFUSED_ACCOUNT, secret_test_plugin.CRASHING_ACCOUNT])
def test_provider_error_quoting_the_credentials_is_printed_redacted(
    account: str, monkeypatch: pytest.MonkeyPatch, isolated_settings: Settings
) -> None:
    set_secret_env(monkeypatch)

    out = assert_clean_failure(mephisto("register", "secretpay", "lab", f"account_name={account}"))

    assert "provider 'secretpay' could not check the credentials" in out
    assert account in out  # what is not secret stays, so the message still helps
    assert "********" in out
    assert_no_secret_in(out)
    assert not isolated_settings.config_file.exists()


def test_requesters_shows_plain_credentials_and_masks_declared_secrets(isolated_settings: Settings) -> None:
    credentials = {"account_name": "acme", "account_pin": PIN, "passphrase": PASSPHRASE, "signing_salt": SALT}
    store_requester_credentials(isolated_settings.config_file, "lab", "secretpay", credentials)

    table = mephisto("requesters")
    as_json = mephisto("requesters", "--json")

    for result in (table, as_json):
        assert result.exit_code == 0, result.output
        assert_no_secret_in(result.output)
    assert 'account_name = "acme"' in table.output
    assert "account_pin = ********" in table.output
    (record,) = json.loads(as_json.stdout)
    assert record["credentials"] == {
        "account_name": "acme",
        "account_pin": "********",
        "passphrase": "********",
        "signing_salt": "********",
    }


def test_secret_fields_come_from_the_declaration() -> None:
    class Args(BaseModel):
        account_pin: SecretStr
        maybe_pin: SecretStr | None = None
        pins: list[SecretStr] = []
        marked: str = Field(default="", json_schema_extra={"secret": True})
        api_key: str = ""  # the name alone still masks: a safety net for older plugins
        region: str = ""

    assert secret_field_names(Args) == {"account_pin", "maybe_pin", "pins", "marked", "api_key"}
    assert secret_test_plugin.SecretProvider.secret_fields() == {"account_pin", "passphrase", "signing_salt"}


def test_redact_hides_a_secret_however_the_message_quoted_it() -> None:
    credentials = {"account_pin": PIN, "passphrase": PASSPHRASE}
    message = f"refused {credentials!r} / {json.dumps(credentials)} / {PASSPHRASE}"

    redacted = redact(message, credentials.values())

    assert_no_secret_in(redacted)
    assert redacted.count("********") == 5


def test_redact_leaves_a_short_secret_inside_other_words_alone() -> None:
    assert redact("max_spend is not a number; api_key='x', pin 1234.", ["x", "1234"]) == (
        "max_spend is not a number; api_key='********', pin ********."
    )
