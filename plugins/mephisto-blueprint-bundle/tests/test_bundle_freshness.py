"""`check` (and a launch) refuse a bundle that is missing or older than its sources, naming the build command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from bundle_support import MakeBundle, write_files

from mephisto_core.errors import ConfigError


def _age(path: Path, seconds: float) -> None:
    """Move `path`'s modification time `seconds` into the past."""
    stamp = path.stat().st_mtime - seconds
    os.utime(path, (stamp, stamp))


def test_a_missing_bundle_says_to_build_it(make_bundle: MakeBundle, task_dir: Path) -> None:
    blueprint = make_bundle(built=False)
    with pytest.raises(ConfigError, match=r"no folder dist/\); build it first: .*npm install && npm run build") as err:
        blueprint.check()
    assert err.value.key == "blueprint.bundle_dir"
    with pytest.raises(ConfigError, match="npm run build"):
        blueprint.check_launch()


def test_a_bundle_without_index_html_is_not_built(make_bundle: MakeBundle, task_dir: Path) -> None:
    blueprint = make_bundle(built=False)
    write_files(task_dir, {"dist/assets/app.js": "x"})
    with pytest.raises(ConfigError, match=r"has no index\.html"):
        blueprint.check()


def test_a_source_changed_after_the_build_is_named(make_bundle: MakeBundle, task_dir: Path) -> None:
    blueprint = make_bundle(files={"src/App.jsx": "old", "package.json": "{}"})
    blueprint.check()  # built after its sources: fine
    _age(task_dir / "dist" / "index.html", 60)
    _age(task_dir / "package.json", 120)
    with pytest.raises(ConfigError, match=r"older than its sources \(src/App.jsx changed after the last build\)"):
        blueprint.check()


def test_node_modules_and_missing_sources_do_not_count(make_bundle: MakeBundle, task_dir: Path) -> None:
    blueprint = make_bundle(files={"src/App.jsx": "x"})
    _age(task_dir / "src" / "App.jsx", 120)
    write_files(task_dir, {"src/node_modules/dep/index.js": "newer than the build"})
    _age(task_dir / "dist" / "index.html", 60)
    blueprint.check()  # no package.json, no index.html: skipped


def test_freshness_can_be_turned_off_and_the_command_named(make_bundle: MakeBundle, task_dir: Path) -> None:
    stale = make_bundle(files={"src/main.ts": "x"}, build_command="make web")
    _age(task_dir / "dist" / "index.html", 60)
    with pytest.raises(ConfigError, match=r"rebuild it: cd .* && make web"):
        stale.check()
    make_bundle(check_freshness=False).check()
