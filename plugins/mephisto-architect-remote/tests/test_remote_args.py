"""The `[architect]` section of type `remote`: what it accepts, what it refuses and how the secret is read."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from mephisto_architect_remote.architect import RemoteArchitect
from mephisto_architect_remote.args import RemoteArchitectArgs
from mephisto_architect_remote.secret import read_deploy_secret
from pydantic import ValidationError

from mephisto_core import plugins
from mephisto_core.errors import ConfigError
from mephisto_core.task_config import validate_task_dict

SECRET = "a-deploy-secret-long-enough-0123"


def _args(**values: Any) -> RemoteArchitectArgs:
    return RemoteArchitectArgs(**{"url": "https://tasks.example.org", **values})


def test_the_url_is_normalised_to_a_base_url_with_a_slash() -> None:
    assert _args().url == "https://tasks.example.org/"
    assert _args(url="https://tasks.example.org:8443/lab/").url == "https://tasks.example.org:8443/lab/"
    assert _args(url=" http://10.0.0.5:3000").url == "http://10.0.0.5:3000/"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("tasks.example.org", "must start with https://"),
        ("ftp://tasks.example.org/", "must start with https://"),
        ("https:///path", "names no host"),
        ("https://tasks.example.org:99999/", "bad port"),
        ("https://tasks.example.org/?run=1", "plain base URL"),
        ("https://user:pw@tasks.example.org/", "plain base URL"),
    ],
)
def test_a_url_that_is_no_public_base_url_is_refused(url: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        _args(url=url)


def test_the_url_is_required() -> None:
    with pytest.raises(ValidationError, match="url"):
        RemoteArchitectArgs()  # type: ignore[call-arg]


def test_secret_env_must_be_a_variable_name_not_a_secret() -> None:
    with pytest.raises(ValidationError, match="not an environment variable name"):
        _args(secret_env="s3cr3t-value!")


def test_secret_env_and_secret_file_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not both"):
        _args(secret_env="LAB_SECRET", secret_file=tmp_path / "secret")


def test_bad_timeouts_are_refused() -> None:
    with pytest.raises(ValidationError):
        _args(probe_timeout_seconds=0)
    with pytest.raises(ValidationError):
        _args(give_up_after_seconds=-1)


def test_unknown_keys_are_errors() -> None:
    with pytest.raises(ValidationError, match="secret"):
        _args(secret=SECRET)


def test_the_secret_comes_from_the_named_variable() -> None:
    assert read_deploy_secret(_args(secret_env="LAB_SECRET"), {"LAB_SECRET": f"  {SECRET}\n"}) == SECRET


def test_a_missing_variable_says_which_one_and_what_to_do() -> None:
    with pytest.raises(ConfigError, match="MEPHISTO_ROUTER_SECRET is not set: export it") as caught:
        read_deploy_secret(_args(), {})
    assert caught.value.key == "architect.secret_env"


def test_a_short_secret_is_refused_without_printing_it() -> None:
    with pytest.raises(ConfigError, match="is 5 characters long") as caught:
        read_deploy_secret(_args(), {"MEPHISTO_ROUTER_SECRET": "abcde"})
    assert "abcde" not in str(caught.value)


def test_the_secret_file_is_read_and_a_readable_one_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "router.secret"
    path.write_text(SECRET + "\n", encoding="utf-8")
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        assert read_deploy_secret(_args(secret_file=path), {}) == SECRET
    assert not caplog.records
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert read_deploy_secret(_args(secret_file=path), {}) == SECRET
    assert "can be read by other users" in caplog.text
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("content", "words"),
    [(None, "does not exist"), ("", "is empty"), (f"{SECRET}\nsecond", "more than one line")],
)
def test_a_bad_secret_file_is_named(tmp_path: Path, content: str | None, words: str) -> None:
    path = tmp_path / "router.secret"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=words) as caught:
        read_deploy_secret(_args(secret_file=path), {})
    assert caught.value.key == "architect.secret_file"


def test_paths_in_the_task_file_are_relative_to_it(tmp_path: Path) -> None:
    raw = {
        "task": {"name": "remote-args", "title": "t", "description": "d", "reward": 0.1},
        "blueprint": {"type": "static", "task_source": "page.html", "data_csv": "data.csv"},
        "architect": {"type": "remote", "url": "https://tasks.example.org", "secret_file": "lab.secret"},
        "provider": {"type": "mock"},
    }
    config = validate_task_dict(raw, tmp_path / "task.toml")
    args = config.architect_args
    assert isinstance(args, RemoteArchitectArgs)
    assert args.secret_file == tmp_path / "lab.secret"


def test_a_path_under_home_is_the_researchers_home_not_the_task_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    raw = {
        "task": {"name": "remote-args", "title": "t", "description": "d", "reward": 0.1},
        "blueprint": {"type": "static", "task_source": "page.html", "data_csv": "data.csv"},
        "architect": {"type": "remote", "url": "https://tasks.example.org", "secret_file": "~/router.secret"},
        "provider": {"type": "mock"},
    }
    args = validate_task_dict(raw, tmp_path / "study" / "task.toml").architect_args
    assert isinstance(args, RemoteArchitectArgs)
    assert args.secret_file == tmp_path / "home" / "router.secret"


def test_registered_as_type_remote_and_https_counts_as_public(tmp_path: Path) -> None:
    assert plugins.get_registry().get("architect", "remote") is RemoteArchitect
    assert RemoteArchitect(_args(), tmp_path).serves_public_https()
    assert not RemoteArchitect(_args(url="http://10.0.0.5:3000"), tmp_path).serves_public_https()


def test_check_refuses_a_missing_ca_file_before_any_network(tmp_path: Path) -> None:
    architect = RemoteArchitect(_args(ca_file=tmp_path / "nope.pem"), tmp_path)
    with pytest.raises(ConfigError, match=r"CA file .* does not exist"):
        architect.check()


def test_check_refuses_a_missing_secret_before_any_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEPHISTO_ROUTER_SECRET", raising=False)
    # An unroutable address: reaching the network would hang for the timeout, the secret check comes first.
    architect = RemoteArchitect(_args(url="https://192.0.2.1/"), tmp_path)
    with pytest.raises(ConfigError, match="MEPHISTO_ROUTER_SECRET is not set"):
        architect.check()
    assert os.environ.get("MEPHISTO_ROUTER_SECRET") is None
