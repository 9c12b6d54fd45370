"""The distribution as users meet it: registered through its entry point, described by `mephisto wut`, its
commands present, and only the core's public API imported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def test_uses_only_the_public_api() -> None:
    from mephisto_core.testing.public_api import internal_core_imports

    assert internal_core_imports(Path(__file__).parents[1] / "src") == []


def test_wut_describes_the_architect_and_ec2_commands_exist(mephisto_cli: Callable[..., Any]) -> None:
    described = mephisto_cli("wut", "architect=ec2")
    assert described.exit_code == 0, described.output
    for field in ("listener_arn", "subdomain", "keep_instance", "endpoint_url", "test_router_url"):
        assert field in described.output
    helped = mephisto_cli("ec2", "--help")
    assert helped.exit_code == 0, helped.output
    assert "status" in helped.output and "cleanup" in helped.output


def test_listing_plugins_does_not_import_boto3() -> None:
    import subprocess
    import sys

    code = "import sys, mephisto_architect_ec2.plugin; print('boto3' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
