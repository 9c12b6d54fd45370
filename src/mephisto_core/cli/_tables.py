"""Rich rendering shared by the commands: the console and the table of a pydantic `Args` model.

Imported only inside command functions: rich and pydantic are too slow to load for `mephisto --help`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mephisto_core.cli._fields import describe_model

if TYPE_CHECKING:
    from pydantic import BaseModel


def console() -> Console:
    """A console on the current stdout (click's test runner swaps it); plain text when not a terminal."""
    # highlight=False: rich would colour numbers and paths in our plain sentences, which reads as noise.
    return Console(highlight=False, soft_wrap=False)


def args_table(model: type[BaseModel], title: str) -> Table:
    """Every field of `model`: name, type, default, whether required, and its help text."""
    # Text, not a plain string: rich would read "[task]" in a title as markup and drop it.
    table = Table(title=Text(title), title_justify="left", show_lines=False, expand=False)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("type", overflow="fold", max_width=24)
    table.add_column("default", overflow="fold", max_width=24)
    table.add_column("required", justify="center")
    table.add_column("help", overflow="fold")
    for row in describe_model(model):
        table.add_row(
            Text(row.name),
            Text(row.type),
            Text(row.default),
            Text("yes" if row.required else "no", style="bold red" if row.required else ""),
            Text(row.help),
        )
    if not model.model_fields:
        table.add_row(Text("(no arguments)", style="italic"), "", "", "", "")
    return table


def first_line(text: str | None) -> str:
    """The first non-empty line of a docstring or README, without Markdown heading marks."""
    for line in (text or "").splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line
    return ""
