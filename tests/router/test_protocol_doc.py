"""docs/protocol.md documents every error code and refusal reason the router and the operator can send."""

from __future__ import annotations

import re
from pathlib import Path

from mephisto_core.operations.run.replies import Refusal

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "docs" / "protocol.md"
SOURCES = [
    *(ROOT / "src" / "mephisto_core" / "router").glob("*.py"),
    *(ROOT / "src" / "mephisto_core" / "operations").rglob("*.py"),
]
# Where the server makes an `error`: the operator's Failure(code, ...) and the router's error_frame(code, ...).
SENT_CODE = re.compile(r"""(?:Failure|error_frame)\(\s*["']([a-z_]+)["']""")


def codes_in_the_code() -> set[str]:
    return {code for source in SOURCES for code in SENT_CODE.findall(source.read_text())}


def documented_error_codes() -> dict[str, list[list[str]]]:
    """The rows of the error-code table by code, each row's cells after the code: who sends it, when, retry."""
    section = PROTOCOL.read_text().split("### Error codes", 1)[1].split("\n### ", 1)[0]
    rows: dict[str, list[list[str]]] = {}
    for line in section.splitlines():
        match = re.match(r"\| `([a-z_]+)` \|(.+)\|\s*$", line)
        if match:
            rows.setdefault(match.group(1), []).append([cell.strip() for cell in match.group(2).split("|")])
    return rows


def test_the_scan_finds_the_codes_it_is_meant_to_find() -> None:
    assert {"bad_message", "unavailable", "unsupported", "gone", "unknown_upload"} <= codes_in_the_code()


def test_every_error_code_sent_is_documented_with_when_and_whether_to_retry() -> None:
    documented = documented_error_codes()
    missing = codes_in_the_code() - set(documented)
    assert not missing, f"docs/protocol.md's error table lacks {sorted(missing)}"
    for code, rows in documented.items():
        for cells in rows:
            assert len(cells) == 3 and all(cells), f"the row for {code} needs who, when and retry: {cells}"


def test_every_refusal_reason_is_documented() -> None:
    text = PROTOCOL.read_text()
    assert [reason.value for reason in Refusal if f"`{reason.value}`" not in text] == []
