"""`extra_source_dir` links and private files: links leaving the folder, dangling or looping are refused by check and
build alike (naming the link and where it points); links that stay inside are served; a folder that holds the task
file, the data or the gold answers is loudly warned about."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from mephisto_blueprint_static.blueprint import StaticBlueprint
from static_support import MakeBlueprint

from mephisto_core.abstractions import TaskArgs
from mephisto_core.errors import ConfigError

EXTRA = {"assets/cat.svg": "<svg>cat</svg>"}


def refused_by_check_and_build(blueprint: StaticBlueprint, build: Path) -> ConfigError:
    """The ConfigError check() raises, after asserting that build() raises the same and copies nothing."""
    with pytest.raises(ConfigError) as by_check:
        blueprint.check()
    with pytest.raises(ConfigError) as by_build:
        blueprint.build(build)
    assert str(by_build.value) == str(by_check.value)
    assert by_check.value.key == "blueprint.extra_source_dir"
    assert not build.exists() or not any(build.iterdir())
    return by_check.value


def test_a_link_to_a_file_outside_the_folder_is_refused_naming_it(
    make_blueprint: MakeBlueprint, task_dir: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for workers")
    blueprint = make_blueprint(files=EXTRA, extra_source_dir="assets")
    (task_dir / "assets" / "notes.txt").symlink_to(secret)
    error = refused_by_check_and_build(blueprint, tmp_path / "build")
    assert f"holds the link notes.txt -> {secret}, which leads out of the folder (to {secret})" in str(error)


def test_links_to_a_system_file_and_to_etc_are_refused(
    make_blueprint: MakeBlueprint, task_dir: Path, tmp_path: Path
) -> None:
    blueprint = make_blueprint(files=EXTRA, extra_source_dir="assets")
    # The attack used /etc/hostname, which some containers lack; /etc/passwd is on every Linux machine.
    (task_dir / "assets" / "host").symlink_to("/etc/passwd")
    assert "the link host -> /etc/passwd" in str(refused_by_check_and_build(blueprint, tmp_path / "b1"))
    (task_dir / "assets" / "host").unlink()
    (task_dir / "assets" / "img").mkdir()
    (task_dir / "assets" / "img" / "etc").symlink_to("/etc", target_is_directory=True)
    assert "the link img/etc -> /etc, which leads out" in str(refused_by_check_and_build(blueprint, tmp_path / "b2"))


def test_a_dangling_link_is_a_clear_error_not_a_shutil_error(
    make_blueprint: MakeBlueprint, task_dir: Path, tmp_path: Path
) -> None:
    blueprint = make_blueprint(files=EXTRA, extra_source_dir="assets")
    (task_dir / "assets" / "gone.png").symlink_to(task_dir / "assets" / "deleted.png")
    error = refused_by_check_and_build(blueprint, tmp_path / "build")
    assert "holds the link gone.png -> " in str(error) and "which points to nothing" in str(error)


def test_a_link_back_to_a_folder_containing_it_is_refused(
    make_blueprint: MakeBlueprint, task_dir: Path, tmp_path: Path
) -> None:
    blueprint = make_blueprint(files=EXTRA, extra_source_dir="assets")
    (task_dir / "assets" / "sub").mkdir()
    (task_dir / "assets" / "sub" / "up").symlink_to("..", target_is_directory=True)
    error = refused_by_check_and_build(blueprint, tmp_path / "build")
    assert "the link sub/up -> .., a folder that contains the link itself" in str(error)


def test_a_visible_link_into_a_hidden_folder_cannot_smuggle_an_outside_link(
    make_blueprint: MakeBlueprint, task_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    blueprint = make_blueprint(files={**EXTRA, "assets/.hidden/keep.txt": "x"}, extra_source_dir="assets")
    (task_dir / "assets" / ".hidden" / "leak.txt").symlink_to(outside)
    (task_dir / "assets" / "visible").symlink_to(".hidden", target_is_directory=True)
    error = refused_by_check_and_build(blueprint, tmp_path / "build")
    assert f"the link .hidden/leak.txt -> {outside}" in str(error)


def test_links_that_stay_inside_are_copied_as_what_they_point_to(
    make_blueprint: MakeBlueprint, task_dir: Path, tmp_path: Path
) -> None:
    blueprint = make_blueprint(files={**EXTRA, "assets/css/task.css": "p{}"}, extra_source_dir="assets")
    assets = task_dir / "assets"
    (assets / "alias.svg").symlink_to("cat.svg")
    (assets / "absolute.svg").symlink_to(assets / "cat.svg")
    (assets / "styles").symlink_to("css", target_is_directory=True)
    blueprint.check()
    build = tmp_path / "build"
    blueprint.build(build)
    for name in ("alias.svg", "absolute.svg"):
        assert (build / name).read_text() == "<svg>cat</svg>" and not (build / name).is_symlink()
    assert (build / "styles" / "task.css").read_text() == "p{}" and not (build / "styles").is_symlink()


def test_serving_the_task_folder_warns_about_the_task_file_data_and_gold(
    task_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name, text in {"task.html": "<p>${text}</p>", "data.csv": "text\na\n", "gold.jsonl": "{}\n"}.items():
        (task_dir / name).write_text(text)
    task = TaskArgs.model_validate(
        {"name": "t", "title": "T", "gold": {"data_jsonl": str(task_dir / "gold.jsonl"), "every": 5}}
    )
    args = StaticBlueprint.Args.model_validate(
        {"task_source": "task.html", "data_csv": "data.csv", "extra_source_dir": "."}
    )
    blueprint = StaticBlueprint(args, task, task_dir)
    with caplog.at_level(logging.WARNING):
        blueprint.check()
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    message = warning.getMessage()
    assert message.startswith(f"blueprint.extra_source_dir ({task_dir}) is served to every worker")
    for served in ("the task folder (with the task file", "the data file data.csv", "the gold answers gold.jsonl"):
        assert served in message


def test_a_folder_of_assets_beside_the_task_file_gives_no_warning(
    make_blueprint: MakeBlueprint, caplog: pytest.LogCaptureFixture
) -> None:
    blueprint = make_blueprint(files=EXTRA, extra_source_dir="assets")
    with caplog.at_level(logging.WARNING):
        blueprint.check()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_hidden_private_files_are_not_served_so_not_warned_about(
    make_blueprint: MakeBlueprint, task_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The data sits in a hidden folder of the served folder: the build leaves it out.
    blueprint = make_blueprint(files={**EXTRA, "assets/.data/rows.csv": "text\na\n"}, extra_source_dir="assets")
    blueprint = StaticBlueprint(
        StaticBlueprint.Args.model_validate(
            {"task_source": "task.html", "data_csv": "assets/.data/rows.csv", "extra_source_dir": "assets"}
        ),
        blueprint.task,
        task_dir,
    )
    with caplog.at_level(logging.WARNING):
        blueprint.check()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
