"""`mephisto init`: copy a task template (the `mephisto_core.task_templates` package) into a folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

TEMPLATES_PACKAGE = "mephisto_core.task_templates"
TASK_FILE = "task.toml"
# Python packaging leftovers in the templates package, never part of a task folder.
_SKIPPED = {"__init__.py", "__pycache__"}
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # TaskArgs.name


def templates_root() -> Traversable:
    """The folder holding one sub-folder per template (inside the installed package, or the source tree)."""
    from importlib.resources import files

    from mephisto_core.errors import MephistoError

    try:
        return files(TEMPLATES_PACKAGE)
    except ModuleNotFoundError as exc:
        raise MephistoError(
            f"the task templates ({TEMPLATES_PACKAGE}) are missing from this installation; "
            "reinstall mephisto-core (pip install --force-reinstall mephisto-core)"
        ) from exc


def available_templates() -> dict[str, Traversable]:
    """Template name -> its folder: every sub-folder of `templates_root()` that holds a task.toml."""
    found = {}
    for child in templates_root().iterdir():
        if child.name in _SKIPPED or child.name.startswith((".", "_")) or not child.is_dir():
            continue
        if child.joinpath(TASK_FILE).is_file():
            found[child.name] = child
    return dict(sorted(found.items()))


@click.command()
@click.argument("directory", required=False, type=click.Path(path_type=Path, file_okay=True, dir_okay=True))
@click.option("--template", "-t", "template", metavar="NAME", help="Template to copy (see --list).")
@click.option("--force", is_flag=True, help="Write into DIRECTORY even if it is not empty (same names overwritten).")
@click.option("--list", "list_templates", is_flag=True, help="List the templates and exit.")
def init(directory: Path | None, template: str | None, force: bool, list_templates: bool) -> None:
    """Create a task folder DIRECTORY from a template: its task.toml and the files it uses.

    The task is named after the folder. Then: mephisto check DIRECTORY/task.toml
    """
    templates = available_templates()
    if list_templates:
        _print_templates(templates)
        return
    names = ", ".join(templates) or "none installed"
    if directory is None:
        raise click.UsageError(f"give the folder to create: mephisto init DIRECTORY --template NAME ({names})")
    if template is None:
        raise click.UsageError(f"choose a template with --template NAME; templates: {names}")
    if template not in templates:
        raise click.ClickException(f"unknown template {template!r}; templates: {names}")
    _check_destination(directory, force)
    task_name = task_name_for(directory)
    _copy_tree(templates[template], directory)
    _write_task_file(directory / TASK_FILE, task_name)
    click.echo(f"Created {directory} from the {template!r} template (task name {task_name!r}).")
    click.echo(f"Next: mephisto check {directory / TASK_FILE}   then: mephisto launch {directory / TASK_FILE}")


def task_name_for(directory: Path) -> str:
    """A valid task name (`[A-Za-z0-9][A-Za-z0-9_.-]*`) made from the folder's base name."""
    base = directory.resolve().name
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", base).lstrip("_.-")
    return name if _NAME_PATTERN.match(name) else "task"


def _check_destination(directory: Path, force: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise click.ClickException(f"{directory} exists and is not a folder; choose another DIRECTORY")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise click.ClickException(
            f"{directory} is not empty; choose an empty or new folder, or pass --force to write the template "
            "into it (files with the same names are overwritten)"
        )


def _copy_tree(source: Traversable, destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    for child in source.iterdir():
        if child.name in _SKIPPED or child.name.endswith(".pyc"):
            continue
        target = destination / child.name
        if child.is_dir():
            _copy_tree(child, target)
        else:
            target.write_bytes(child.read_bytes())


def _write_task_file(path: Path, task_name: str) -> None:
    import tomllib

    import tomli_w

    from mephisto_core.errors import ConfigError

    text = path.read_text(encoding="utf-8")
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the template's task file is not valid TOML: {exc}", file=path) from exc
    task = raw.setdefault("task", {})
    if not isinstance(task, dict):
        raise ConfigError("the template's [task] must be a table", file=path, key="task")
    task["name"] = task_name
    # `task` first, as a person would write the file; tomli-w keeps insertion order.
    ordered = {"task": task, **{key: value for key, value in raw.items() if key != "task"}}
    # tomli-w writes no comments; the template's opening comment block (how to use it) is kept on top.
    path.write_text(_leading_comments(text) + tomli_w.dumps(ordered), encoding="utf-8")


def _leading_comments(text: str) -> str:
    """The comment lines (and blank lines between them) before the first key or table of a TOML file."""
    kept = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            break
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept) + "\n\n" if kept else ""


def _print_templates(templates: dict[str, Traversable]) -> None:
    from rich.table import Table
    from rich.text import Text

    from mephisto_core.cli._tables import console

    out = console()
    if not templates:
        out.print("No task templates are installed.")
        return
    table = Table(title="Task templates", title_justify="left")
    table.add_column("template", style="bold", no_wrap=True)
    table.add_column("description", overflow="fold")
    for name, folder in templates.items():
        table.add_row(Text(name), Text(_describe_template(folder)))
    out.print(table)
    out.print("Create a task: mephisto init DIRECTORY --template NAME")


def _describe_template(folder: Traversable) -> str:
    """The first line of the template's README.md, else its task title."""
    import tomllib

    from mephisto_core.cli._tables import first_line

    readme = folder.joinpath("README.md")
    if readme.is_file():
        line = first_line(readme.read_text(encoding="utf-8"))
        if line:
            return line
    try:
        raw = tomllib.loads(folder.joinpath(TASK_FILE).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        return f"(its task.toml is not valid TOML: {exc})"
    task = raw.get("task")
    title = task.get("title") if isinstance(task, dict) else None
    return str(title) if title else ""
