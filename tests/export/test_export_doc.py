"""docs/export.md names every review kind the code can write and every option of `mephisto export`."""

from __future__ import annotations

from pathlib import Path

from mephisto_core.cli.export_cmd import export
from mephisto_core.data_model.statuses import ReviewKind

DOC = Path(__file__).resolve().parents[2] / "docs" / "export.md"


def test_every_review_kind_is_listed_in_the_export_doc() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [kind.value for kind in ReviewKind if f"`{kind.value}`" not in text]
    assert missing == []


def test_every_export_option_is_in_the_export_doc() -> None:
    text = DOC.read_text(encoding="utf-8")
    options = [name for param in export.params for name in param.opts if name.startswith("--")]
    assert [name for name in options if name not in text] == []
