"""The local architect offers an in-process channel link only when the router shares the operator's loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mephisto_architect_local.architect import LocalArchitect
from mephisto_architect_local.args import LocalArchitectArgs

SECRET = "s3cret-for-link-tests"


def test_in_process_deployment_carries_a_link_that_reaches_the_router(tmp_path: Path, build_dir: Path) -> None:
    async def scenario() -> dict[str, Any]:
        architect = LocalArchitect(LocalArchitectArgs(port=0, mode="in_process"), tmp_path / "run")
        deployment = await architect.deploy(build_dir, SECRET)
        try:
            assert deployment.local_link is not None
            first: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

            async def on_envelope(envelope: dict[str, Any]) -> None:
                if not first.done():
                    first.set_result(envelope)

            async def on_upload(conn: int, frame: bytes) -> None:
                raise AssertionError("no upload was sent")

            session = deployment.local_link.open_local(on_envelope, on_upload)
            hello = await asyncio.wait_for(first, 10)
            assert session.is_open
        finally:
            await architect.shutdown()
        assert not session.is_open  # stopping the router ends the session
        return hello

    hello = asyncio.run(scenario())
    assert hello["event"] == "hello" and hello["conns"] == []


def test_subprocess_deployment_has_no_link(tmp_path: Path, build_dir: Path) -> None:
    async def scenario() -> object:
        architect = LocalArchitect(LocalArchitectArgs(port=0, mode="subprocess"), tmp_path / "run")
        deployment = await architect.deploy(build_dir, SECRET)
        try:
            return deployment.local_link
        finally:
            await architect.shutdown()

    assert asyncio.run(scenario()) is None
