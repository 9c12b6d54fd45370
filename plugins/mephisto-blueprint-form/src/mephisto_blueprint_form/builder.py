"""Write what the router serves for a form task: the page (with the validator table inside it) and its scripts."""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path

from mephisto_blueprint_form.rules import rules_text

PAGE_NAME = "index.html"
SCRIPT_NAMES = ("form-rules.js", "form-render.js", "form-task.js")


def _asset(name: str) -> str:
    return resources.files("mephisto_blueprint_form").joinpath("assets", name).read_text(encoding="utf-8")


def render_page(title: str) -> str:
    """index.html for a task with this title; the validator table is embedded as JSON."""
    # Inside <script type="application/json"> only "</" could end the element early; \u003c keeps it JSON.
    rules = rules_text().replace("<", "\\u003c")
    page = _asset(PAGE_NAME).replace("__TASK_TITLE__", html.escape(title, quote=True))
    return page.replace("__FORM_RULES_JSON__", rules)


def write_build(build_dir: Path, title: str) -> None:
    """Fill `build_dir` with the page and its scripts."""
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / PAGE_NAME).write_text(render_page(title), encoding="utf-8")
    for name in SCRIPT_NAMES:
        (build_dir / name).write_text(_asset(name), encoding="utf-8")
