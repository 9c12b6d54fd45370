"""The build: a readable index.html that loads the client then static-task.js, plus the task's extra files."""

from __future__ import annotations

from pathlib import Path

import pytest
from mephisto_blueprint_static.builder import RESERVED_NAMES
from static_support import MakeBlueprint

from mephisto_core.errors import ConfigError


def test_build_writes_the_page_and_its_script(make_blueprint: MakeBlueprint, tmp_path: Path) -> None:
    blueprint = make_blueprint(submit_button_text='Send "it"')
    build = tmp_path / "build"
    blueprint.build(build)
    page = (build / "index.html").read_text(encoding="utf-8")
    client_at = page.index('<script src="/mephisto-task.js"></script>')
    script_at = page.index('<script src="/static-task.js"></script>')
    assert client_at < script_at
    assert "<title>A &lt;static&gt; test</title>" in page
    assert 'data-submit-text="Send &quot;it&quot;"' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "__TASK_TITLE__" not in page and "__SUBMIT_BUTTON_TEXT__" not in page
    script = (build / "static-task.js").read_text(encoding="utf-8")
    # It sends through the client's shared page helpers (mephisto.taskPage.handleFormSubmit -> handleSubmit).
    assert "mephisto.taskPage" in script and "page.handleFormSubmit(" in script
    assert "import " not in script and "require(" not in script  # dependency-free
    assert sorted(p.name for p in build.iterdir()) == ["index.html", "static-task.js"]


def test_extra_source_dir_is_copied_beside_the_page(
    make_blueprint: MakeBlueprint, task_dir: Path, tmp_path: Path
) -> None:
    files = {
        "assets/cat.svg": "<svg/>",
        "assets/css/task.css": "p{}",
        "assets/.DS_Store": "junk",
    }
    blueprint = make_blueprint(files=files, extra_source_dir="assets")
    blueprint.check()
    build = tmp_path / "build"
    blueprint.build(build)
    assert (build / "cat.svg").read_text() == "<svg/>"
    assert (build / "css" / "task.css").read_text() == "p{}"
    assert not (build / ".DS_Store").exists()
    assert (build / "index.html").exists()


@pytest.mark.parametrize("reserved", sorted(RESERVED_NAMES))
def test_extra_source_dir_may_not_replace_the_page_files(
    make_blueprint: MakeBlueprint, tmp_path: Path, reserved: str
) -> None:
    blueprint = make_blueprint(files={f"assets/{reserved}": "mine", "assets/ok.txt": "ok"}, extra_source_dir="assets")
    with pytest.raises(ConfigError, match=f"holds {reserved}") as caught:
        blueprint.check()
    assert caught.value.key == "blueprint.extra_source_dir"
    build = tmp_path / "build"
    with pytest.raises(ConfigError):
        blueprint.build(build)
    assert not (build / "ok.txt").exists()  # refused before copying anything


def test_extra_source_dir_that_is_a_file(make_blueprint: MakeBlueprint) -> None:
    blueprint = make_blueprint(files={"assets": "not a folder"}, extra_source_dir="assets")
    with pytest.raises(ConfigError, match="is not a folder"):
        blueprint.check()
