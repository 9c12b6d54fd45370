"""Helpers the form blueprint's tests share (a uniquely named module, so the test suites of several plugins can
run in one pytest session)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mephisto_blueprint_form.blueprint import FormBlueprint

TESTS_DIR = Path(__file__).resolve().parent
MakeBlueprint = Callable[..., "FormBlueprint"]
TEMPLATE_DIR = TESTS_DIR.parents[2] / "task_templates" / "form"
VECTORS = json.loads((TESTS_DIR / "validator_vectors.json").read_text(encoding="utf-8"))


def reference_config() -> dict[str, Any]:
    """A fresh copy of the template's form.json (the reference document's example form)."""
    data: dict[str, Any] = json.loads((TEMPLATE_DIR / "form.json").read_text(encoding="utf-8"))
    return data


def config_with(*fields: dict[str, Any]) -> dict[str, Any]:
    """A minimal valid config holding `fields` in one row."""
    return {
        "form": {
            "title": "Test form",
            "sections": [
                {"title": "Only section", "fieldsets": [{"rows": [{"fields": [copy.deepcopy(f) for f in fields]}]}]}
            ],
            "submit_button": {"text": "Send"},
        }
    }


def write_json(path: Path, data: Any) -> Path:
    """Write `data` as JSON to `path` and return the path."""
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path
