"""mephisto_core.text_files: user-written files fail as located ConfigErrors, whatever their bytes or depth."""

from __future__ import annotations

from pathlib import Path

import pytest

from mephisto_core.errors import ConfigError
from mephisto_core.text_files import (
    MAX_NESTING,
    decode_utf8,
    deepest_nesting,
    loads_json,
    loads_toml,
    nesting_depth,
    read_utf8,
)

FILE = Path("/tasks/demo/data.json")


def test_a_bad_byte_is_named_with_its_line_and_offset() -> None:
    with pytest.raises(ConfigError) as caught:
        decode_utf8(b'a = 1\nb = "caf\xe9"\n', FILE, key="blueprint.data_json")
    assert (caught.value.file, caught.value.line, caught.value.key) == (FILE, 2, "blueprint.data_json")
    assert "byte 14 (0xe9)" in str(caught.value)
    assert decode_utf8(b"\xef\xbb\xbfx", FILE, bom=True) == "x"


def test_reading_a_folder_or_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder"):
        read_utf8(tmp_path)
    with pytest.raises(ConfigError, match="file not found"):
        read_utf8(tmp_path / "missing.toml")


def test_json_exactly_at_the_limit_is_read_and_one_level_more_is_refused_at_its_line() -> None:
    at_limit = "[" * MAX_NESTING + "]" * MAX_NESTING
    assert nesting_depth(loads_json(at_limit, FILE)) == MAX_NESTING
    over = "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)
    with pytest.raises(ConfigError) as caught:
        loads_json(over, FILE, key="blueprint.data_jsonl", first_line=7)
    assert caught.value.line == 7 and f"{MAX_NESTING + 1} levels deep" in str(caught.value)


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 980, 5000])
def test_toml_deeper_than_the_limit_is_refused_at_its_line(depth: int) -> None:
    text = '[task]\nname = "x"\n\ntags = ' + "[" * depth + "]" * depth + "\n"
    with pytest.raises(ConfigError) as caught:
        loads_toml(text, FILE)
    assert caught.value.line == 4 and f"{depth} levels deep" in str(caught.value)


def test_a_four_thousand_digit_integer_is_located() -> None:
    with pytest.raises(ConfigError) as caught:
        loads_toml("a = 1\nb = " + "7" * 5000 + "\n", FILE)
    assert caught.value.line == 2 and "more digits" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        loads_json('{"a": ' + "7" * 5000 + "}", FILE, first_line=3)
    assert caught.value.line == 3


def test_brackets_inside_strings_and_comments_do_not_count() -> None:
    toml = 'a = "[[[[" # {{{{\nb = \'[[[\'\nc = """\n[[[\n"""\nd = [[1]]\ne = "\\"[["\n'
    assert deepest_nesting(toml, "toml") == (2, 6)
    json_text = '{"a": "[[[[\\"{{", "b": [\n[1]]}'
    assert deepest_nesting(json_text, "json") == (3, 2)


def test_nesting_depth_walks_any_depth_without_recursion() -> None:
    value: list[object] = []
    for _ in range(100_000):
        value = [value]
    assert nesting_depth(value) == MAX_NESTING + 1  # stops as soon as it is too deep
    assert nesting_depth({"a": [1, {"b": 2}]}) == 3
    assert nesting_depth("scalar") == 0


@pytest.mark.parametrize(
    ("text", "token", "line"),
    [
        ('[{"a": 1},\n {"b": 1e999}]', "1e999", 2),
        ('{"a": -1E400}', "-1E400", 1),
        ("[1,\n 2,\n NaN]", "NaN", 3),
        ('{"x": Infinity}', "Infinity", 1),
        ('{"x": -Infinity}', "-Infinity", 1),
    ],
)
def test_numbers_json_cannot_hold_are_refused_at_their_line(text: str, token: str, line: int) -> None:
    with pytest.raises(ConfigError) as caught:
        loads_json(text, FILE, key="blueprint.data_jsonl", first_line=1)
    assert caught.value.line == line
    assert f": {token} is not a finite number" in str(caught.value)


def test_large_but_finite_numbers_are_read_exactly() -> None:
    assert loads_json('{"big": 1e308, "int": 123456789012345678901234567890}', FILE) == {
        "big": 1e308,
        "int": 123456789012345678901234567890,
    }
