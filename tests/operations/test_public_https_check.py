"""A provider that sends workers only to public https:// addresses (`requires_public_https`) is refused, by
`mephisto check` and by `mephisto launch`, with an architect that does not serve one; through the real CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr

from mephisto_core.abstractions import Architect, CrowdProvider, RequesterArgs, WorkerIdentity
from mephisto_core.data_model import TaskRun, open_database
from mephisto_core.hookspecs import hookimpl

pytestmark = pytest.mark.usefixtures("test_types")


class PaidRequesterArgs(RequesterArgs):
    api_key: SecretStr


class PaidPlatformProvider(CrowdProvider):
    """Stands for MTurk or Prolific: its platform links only to public https:// task addresses. No requester is
    registered or named here, so a launch that got past the check would stop at the requester instead."""

    type_name: ClassVar[str] = "paid_https_test"
    RequesterArgs: ClassVar[type[RequesterArgs]] = PaidRequesterArgs
    default_requester_name: ClassVar[str | None] = None
    publishes_units: ClassVar[bool] = False
    requires_public_https: ClassVar[bool] = True

    def identify_worker(self, params: Any) -> WorkerIdentity:
        return WorkerIdentity(params.get("worker_id"))


class HostedArchitect(Architect):
    """Stands for the remote or ec2 architect: serves workers over public https (never deployed here)."""

    type_name: ClassVar[str] = "hosted_test"

    def serves_public_https(self) -> bool:
        return True


class _Plugin:
    @hookimpl
    def mephisto_register_providers(self, register: Any) -> None:
        register(PaidPlatformProvider)

    @hookimpl
    def mephisto_register_architects(self, register: Any) -> None:
        register(HostedArchitect)


@pytest.fixture
def paid_task(mephisto_register_plugin: Any, task_file: Any) -> Path:
    mephisto_register_plugin(_Plugin())
    path: Path = task_file(rows=2)
    path.write_text(path.read_text().replace('type = "crowd_test"', 'type = "paid_https_test"'))
    return path


def assert_refused_once(output: str) -> None:
    """One clear message naming the provider, the architect and the public-hosting architects."""
    assert output.count("sends workers only to a public https:// address") == 1, output
    assert "provider 'paid_https_test'" in output and "architect 'local'" in output
    assert '[architect] type = "remote"' in output and 'type = "ec2"' in output
    assert "plugins/mephisto-architect-remote/README.md" in output
    assert "key 'architect.type'" in output
    assert "Traceback" not in output


def test_check_refuses_the_local_architect_without_a_public_https_url(mephisto_cli, paid_task):
    result = mephisto_cli("check", paid_task)
    assert result.exit_code == 1
    assert_refused_once(result.output)
    assert str(paid_task) in result.output


def test_check_refuses_a_plain_http_public_url_too(mephisto_cli, paid_task):
    result = mephisto_cli("check", paid_task, "architect.public_url=http://tasks.example.org/")
    assert result.exit_code == 1
    assert_refused_once(result.output)


def test_check_accepts_an_https_tunnel_in_front_of_the_local_architect(mephisto_cli, paid_task):
    result = mephisto_cli("check", paid_task, "architect.public_url=https://tasks.example.org/", "--json")
    assert result.exit_code == 0, result.output


def test_check_accepts_an_architect_that_serves_public_https(mephisto_cli, paid_task):
    paid_task.write_text(paid_task.read_text().replace('type = "local"\nport = 0', 'type = "hosted_test"'))
    result = mephisto_cli("check", paid_task, "--json")
    assert result.exit_code == 0, result.output


def test_providers_that_do_not_require_it_keep_the_plain_local_architect(mephisto_cli, task_file):
    result = mephisto_cli("check", task_file(rows=2), "--json")
    assert result.exit_code == 0, result.output


def test_launch_refuses_before_anything_is_deployed_or_created(mephisto_cli, paid_task, mephisto_settings):
    result = mephisto_cli("launch", paid_task, "--no-panel")
    assert result.exit_code == 1
    assert_refused_once(result.output)
    database = open_database(None, mephisto_settings.sqlite_path)
    try:
        assert TaskRun.select().count() == 0
    finally:
        database.close()


def test_the_base_architect_does_not_claim_public_https(mephisto_cli, paid_task):
    paid_task.write_text(paid_task.read_text().replace('type = "local"\nport = 0', 'type = "null_test"'))
    result = mephisto_cli("check", paid_task)
    assert result.exit_code == 1
    assert "architect 'null_test' does not serve one" in result.output


@pytest.mark.timeout(60)
def test_past_the_check_the_launch_stops_at_the_requester_so_the_refusal_above_came_first(mephisto_cli, paid_task):
    result = mephisto_cli("launch", paid_task, "architect.public_url=https://tasks.example.org/", "--no-panel")
    assert result.exit_code == 1
    assert "sends workers only to a public https:// address" not in result.output
    assert "provider 'paid_https_test' needs a requester" in result.output, result.output
