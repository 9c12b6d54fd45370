"""What the router serves for a bundle task: the built folder, the client's script put first, the ES module."""

from __future__ import annotations

from pathlib import Path

import pytest
from bundle_support import MakeBundle, write_files
from mephisto_blueprint_bundle.page import CLIENT_TAG, NoPlaceForClient, inject_client

from mephisto_core.errors import ConfigError


def test_build_copies_the_bundle_and_loads_the_client_before_the_app(make_bundle: MakeBundle, tmp_path: Path) -> None:
    blueprint = make_bundle()
    blueprint.check()
    build = tmp_path / "build"
    blueprint.build(build)

    page = (build / "index.html").read_text(encoding="utf-8")
    assert page.index(CLIENT_TAG) < page.index('src="./assets/app.js"')
    assert page.count("/mephisto-task.js") == 1
    assert (build / "assets" / "app.js").read_text(encoding="utf-8") == "console.log('app');\n"
    module = (build / "mephisto-task.mjs").read_text(encoding="utf-8")
    assert "export function handleSubmit" in module and "export async function whenReady" in module
    # The researcher's own dist/ is left as built.
    assert CLIENT_TAG not in (blueprint.bundle_dir / "index.html").read_text(encoding="utf-8")


def test_injection_goes_first_in_head_and_happens_once() -> None:
    page = '<html><HEAD lang="x"><script src="a.js"></script></head></html>'
    injected = inject_client(page)
    assert injected.startswith('<html><HEAD lang="x">\n    ' + CLIENT_TAG)
    assert inject_client(injected) == injected
    own = "<head><script src='/mephisto-task.js'></script></head>"
    assert inject_client(own) == own


def test_a_page_without_head_gets_the_client_before_its_first_script() -> None:
    assert inject_client("<body><script>go()</script></body>") == f"<body>{CLIENT_TAG}\n<script>go()</script></body>"
    with pytest.raises(NoPlaceForClient):
        inject_client("<p>nothing to run</p>")


def test_a_page_with_nothing_to_run_is_a_config_error_at_build(
    make_bundle: MakeBundle, task_dir: Path, tmp_path: Path
) -> None:
    blueprint = make_bundle()
    write_files(task_dir, {"dist/index.html": "<p>no app</p>"})
    with pytest.raises(ConfigError, match="no <head> and no <script>") as caught:
        blueprint.build(tmp_path / "build")
    assert caught.value.key == "blueprint.bundle_dir"


def test_a_bundle_holding_the_client_names_is_refused(make_bundle: MakeBundle, task_dir: Path) -> None:
    blueprint = make_bundle()
    write_files(task_dir, {"dist/mephisto-task.mjs": "export {}"})
    with pytest.raises(ConfigError, match=r"mephisto-task\.mjs, which Mephisto serves itself"):
        blueprint.check()


def test_the_task_folder_itself_is_never_served(make_bundle: MakeBundle) -> None:
    blueprint = make_bundle(bundle_dir=".")
    with pytest.raises(ConfigError, match="is the task folder"):
        blueprint.check()


def test_a_link_out_of_the_bundle_is_refused(make_bundle: MakeBundle, task_dir: Path) -> None:
    blueprint = make_bundle()
    (task_dir / "dist" / "secret").symlink_to("/etc/hostname")
    with pytest.raises(ConfigError, match="secret"):
        blueprint.check()
