"""`mephisto init`: copy a template into a folder, name the task after it, and list the templates."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from cli_helpers import DATA_CSV, TASK_TOML, assert_clean_failure

from mephisto_core.cli import init_cmd
from mephisto_core.errors import MephistoError
from mephisto_core.plugins import KINDS, get_registry


@pytest.fixture
def templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A templates folder laid out like the `mephisto_core.task_templates` package, used instead of it."""
    root = tmp_path / "templates"
    demo = root / "demo"
    (demo / "assets").mkdir(parents=True)
    (demo / "task.toml").write_text(TASK_TOML, encoding="utf-8")
    (demo / "data.csv").write_text(DATA_CSV, encoding="utf-8")
    (demo / "README.md").write_text("\n# Label sentences with the demo template\n\nMore words.\n", encoding="utf-8")
    (demo / "assets" / "style.css").write_text("body { margin: 0 }\n", encoding="utf-8")
    (demo / "__init__.py").write_text("", encoding="utf-8")
    (demo / "__pycache__").mkdir()
    (demo / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    bare = root / "bare"
    bare.mkdir()
    (bare / "task.toml").write_text(
        '# Read me first: how to use the bare template.\n\n[task]  # the basics\nname = "x"\ntitle = "A bare task"\n',
        encoding="utf-8",
    )
    (root / "not_a_template").mkdir()  # no task.toml: not listed
    (root / "__init__.py").write_text("", encoding="utf-8")
    (root / "__pycache__").mkdir()
    monkeypatch.setattr(init_cmd, "templates_root", lambda: root)
    return root


def read_task(folder: Path) -> dict[str, object]:
    return tomllib.loads((folder / "task.toml").read_text(encoding="utf-8"))


def test_init_copies_the_template_and_names_the_task_after_the_folder(run_cli, templates, tmp_path):
    target = tmp_path / "my-study"

    result = run_cli("init", target, "--template", "demo")

    assert result.exit_code == 0, result.output
    assert "task name 'my-study'" in result.output
    assert f"mephisto check {target / 'task.toml'}" in result.output
    copied = sorted(str(p.relative_to(target)) for p in target.rglob("*"))
    assert copied == ["README.md", "assets", "assets/style.css", "data.csv", "task.toml"]
    assert (target / "data.csv").read_text(encoding="utf-8") == DATA_CSV
    task = read_task(target)
    original = tomllib.loads(TASK_TOML)
    assert task["task"] == {**original["task"], "name": "my-study"}
    for section in ("blueprint", "architect", "provider"):
        assert task[section] == original[section]
    assert next(iter(task)) == "task"


def test_initialised_task_passes_check(run_cli, templates, tmp_path, test_plugin):
    target = tmp_path / "ready"
    assert run_cli("init", target, "--template", "demo").exit_code == 0

    result = run_cli("check", target / "task.toml", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["config"]["task"]["name"] == "ready"
    assert report["units"] == 6


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("My Study (v2)!", "My_Study_v2_"),
        ("-dashes-first", "dashes-first"),
        ("études", "tudes"),
        ("日本語", "task"),
        ("ok.name_1", "ok.name_1"),
    ],
)
def test_task_name_is_sanitised_to_the_task_name_pattern(tmp_path, folder, name):
    assert init_cmd.task_name_for(tmp_path / folder) == name


def test_init_dot_uses_the_current_folder_name(run_cli, templates, tmp_path, monkeypatch):
    here = tmp_path / "cwd-study"
    here.mkdir()
    monkeypatch.chdir(here)

    result = run_cli("init", ".", "--template", "bare")

    assert result.exit_code == 0, result.output
    assert read_task(here)["task"] == {"name": "cwd-study", "title": "A bare task"}


def test_init_keeps_the_templates_opening_comment(run_cli, templates, tmp_path):
    target = tmp_path / "commented"

    assert run_cli("init", target, "--template", "bare").exit_code == 0

    text = (target / "task.toml").read_text(encoding="utf-8")
    assert text.startswith("# Read me first: how to use the bare template.\n\n[task]\n")
    assert read_task(target)["task"] == {"name": "commented", "title": "A bare task"}


def test_init_refuses_a_non_empty_folder_without_force(run_cli, templates, tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")

    out = assert_clean_failure(run_cli("init", target, "--template", "demo"))
    assert f"{target} is not empty" in out
    assert "--force" in out
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


def test_init_force_writes_into_a_non_empty_folder_and_keeps_other_files(run_cli, templates, tmp_path):
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    (target / "data.csv").write_text("old", encoding="utf-8")

    result = run_cli("init", target, "--template", "demo", "--force")

    assert result.exit_code == 0, result.output
    assert (target / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert (target / "data.csv").read_text(encoding="utf-8") == DATA_CSV


def test_init_into_an_empty_existing_folder_needs_no_force(run_cli, templates, tmp_path):
    target = tmp_path / "empty"
    target.mkdir()

    assert run_cli("init", target, "--template", "bare").exit_code == 0
    assert read_task(target)["task"]["name"] == "empty"  # type: ignore[index]


def test_init_refuses_a_file_as_the_folder(run_cli, templates, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x", encoding="utf-8")

    out = assert_clean_failure(run_cli("init", target, "--template", "demo", "--force"))
    assert "exists and is not a folder" in out


def test_init_unknown_template_lists_the_templates(run_cli, templates, tmp_path):
    out = assert_clean_failure(run_cli("init", tmp_path / "t", "--template", "nope"))
    assert "unknown template 'nope'; templates: bare, demo" in out
    assert not (tmp_path / "t").exists()


def test_init_without_template_asks_for_one(run_cli, templates, tmp_path):
    out = assert_clean_failure(run_cli("init", tmp_path / "t"), exit_code=2)
    assert "choose a template with --template NAME; templates: bare, demo" in out


def test_init_without_folder_asks_for_one(run_cli, templates):
    out = assert_clean_failure(run_cli("init", "--template", "demo"), exit_code=2)
    assert "give the folder to create" in out


def test_init_list_shows_readme_first_line_or_task_title(run_cli, templates):
    result = run_cli("init", "--list")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    demo = next(line for line in lines if " demo " in line)
    bare = next(line for line in lines if " bare " in line)
    assert "Label sentences with the demo template" in demo
    assert "A bare task" in bare
    assert "not_a_template" not in result.output
    assert "__pycache__" not in result.output


def test_template_with_broken_task_file_is_reported_not_crashed(run_cli, templates, tmp_path):
    (templates / "bare" / "task.toml").write_text("[task\n", encoding="utf-8")
    target = tmp_path / "t"

    out = assert_clean_failure(run_cli("init", target, "--template", "bare"))
    assert f"{target / 'task.toml'}" in out
    assert "the template's task file is not valid TOML" in out


def test_missing_templates_package_is_a_clear_error(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(init_cmd, "TEMPLATES_PACKAGE", "mephisto_core.no_templates_here")

    out = assert_clean_failure(run_cli("init", "--list"))
    assert "the task templates (mephisto_core.no_templates_here) are missing from this installation" in out


REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "task_templates"


@pytest.fixture
def real_templates(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The templates shipped with mephisto-core: from the installed package, else from the source tree."""
    try:
        return dict(init_cmd.available_templates())
    except MephistoError:
        # An install made before the package was mapped: the source tree still holds the same folders.
        if not REPO_TEMPLATES.is_dir():
            pytest.skip("no task templates installed or in the source tree")
        monkeypatch.setattr(init_cmd, "templates_root", lambda: REPO_TEMPLATES)
        return dict(init_cmd.available_templates())


def test_real_static_template_initialises_and_checks(run_cli, tmp_path, real_templates):
    if "static" not in real_templates:
        pytest.skip("the static template is not written yet")
    target = tmp_path / "static-study"

    result = run_cli("init", target, "--template", "static")

    assert result.exit_code == 0, result.output
    task = read_task(target)
    assert task["task"]["name"] == "static-study"  # type: ignore[index]
    assert task["blueprint"]["type"] == "static"  # type: ignore[index]
    assert not (target / "__init__.py").exists()
    assert "static" in run_cli("init", "--list").output
    registry = get_registry()
    if all(task[kind]["type"] in registry.types(kind) for kind in KINDS):  # type: ignore[index]
        checked = run_cli("check", target / "task.toml")
        assert checked.exit_code == 0, checked.output
        assert "Estimated cost:" in checked.output
