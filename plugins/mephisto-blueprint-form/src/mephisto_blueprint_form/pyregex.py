"""A JavaScript pattern (parsed by `jsregex`) written out as a Python `re` pattern that matches the same strings.

Every construct whose meaning differs between the two engines is spelt out: `\\d` becomes `[0-9]`, `\\w`
`[A-Za-z0-9_]`, `\\s` the list of JavaScript's white space, `.` "not a line terminator", `^`/`$` start/end of the
text (or of a line, with `m`, where lines end at `\\n`, `\\r`, U+2028 and U+2029), `\\b` a boundary between ASCII
word characters. Only the `i` flag is left to `re` itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mephisto_blueprint_form.jsregex import (
    JS_WHITESPACE,
    LINE_TERMINATORS,
    Alternation,
    AnyChar,
    Assertion,
    Char,
    CharClass,
    ClassEscape,
    Group,
    Look,
    Node,
    Range,
    Repeat,
    Sequence,
    UnsupportedRegexp,
    check_flags,
    parse,
)

_ANY = "[\\x00-\\U0010ffff]"
_WORD = "A-Za-z0-9_"


def _literal(code: int) -> str:
    """A code point written so that it means itself both inside and outside a character class."""
    char = chr(code)
    if char.isascii() and char.isalnum():
        return char
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _set_body(chars: str) -> str:
    return "".join(_literal(ord(c)) for c in chars)


_ESCAPE_SETS = {"d": "0-9", "w": _WORD, "s": _set_body(JS_WHITESPACE)}
_LINE_END = _set_body(LINE_TERMINATORS)


@dataclass(frozen=True)
class CompiledRegexp:
    """A validator's pattern: its JavaScript source and flags, its tree, and the Python pattern to test with."""

    source: str
    flags: str
    tree: Node
    python: re.Pattern[str]

    def test(self, text: str) -> bool:
        """What `new RegExp(source, flags).test(text)` answers in the worker's browser."""
        return self.python.search(text) is not None


@lru_cache(maxsize=512)
def compile_js_regexp(source: str, flags: str) -> CompiledRegexp:
    """Parse, translate and compile; raises RegexpProblem (from `jsregex`) for a pattern either side cannot use."""
    check_flags(flags)
    tree = parse(source)
    python_source = python_pattern(tree, flags)
    try:
        compiled = re.compile(python_source, re.IGNORECASE if "i" in flags else 0)
    except re.error as exc:
        # Valid JavaScript, but Python's engine refuses the construct (for example a lookbehind whose length
        # varies, which browsers allow).
        raise UnsupportedRegexp(f"the server cannot run this pattern: {exc.msg}") from exc
    return CompiledRegexp(source, flags, tree, compiled)


def python_pattern(node: Node, flags: str) -> str:
    """The Python pattern for `node` under the JavaScript `flags`."""
    return _emit(node, "m" in flags, "s" in flags)


def _emit(node: Node, multiline: bool, dot_all: bool) -> str:
    match node:
        case Char(code):
            return _literal(code)
        case AnyChar():
            return _ANY if dot_all else f"[^{_LINE_END}]"
        case ClassEscape(letter):
            body = _ESCAPE_SETS[letter.lower()]
            return f"[{body}]" if letter.islower() else f"[^{body}]"
        case CharClass(negated, items):
            return _emit_class(negated, items)
        case Assertion("^"):
            return f"(?:\\A|(?<=[{_LINE_END}]))" if multiline else "\\A"
        case Assertion("$"):
            return f"(?=[{_LINE_END}]|\\Z)" if multiline else "\\Z"
        case Assertion("b"):
            return f"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))"
        case Assertion(_):
            return f"(?:(?<=[{_WORD}])(?=[{_WORD}])|(?<![{_WORD}])(?![{_WORD}]))"
        case Look(child, behind, negative):
            opener = "(?" + ("<" if behind else "") + ("!" if negative else "=")
            return opener + _emit(child, multiline, dot_all) + ")"
        case Group(child, capturing, name):
            opener = f"(?P<{name}>" if name else ("(" if capturing else "(?:")
            return opener + _emit(child, multiline, dot_all) + ")"
        case Repeat(child, low, high, lazy):
            if high is None:
                count = f"{{{low},}}"
            elif high == low:
                count = f"{{{low}}}"
            else:
                count = f"{{{low},{high}}}"
            return "(?:" + _emit(child, multiline, dot_all) + ")" + count + ("?" if lazy else "")
        case Sequence(items):
            return "".join(_emit(item, multiline, dot_all) for item in items)
        case Alternation(branches):
            return "(?:" + "|".join(_emit(branch, multiline, dot_all) for branch in branches) + ")"
    raise AssertionError(f"unknown regexp node {node!r}")


def _emit_class(negated: bool, items: tuple[Range | ClassEscape, ...]) -> str:
    # Python cannot put a negated set (\D, \W, \S with JavaScript's meaning) inside a class, so a class is the
    # union of its plain members P and the complements of its negated escapes N1, N2, ...:
    #   [P N]   -> (?:[P]|[^N1]|[^N2])        [^P N]  -> (?![P])(?=[N1])[N2]
    plain = "".join(
        _ESCAPE_SETS[item.letter]
        if isinstance(item, ClassEscape)
        else _literal(item.low) + ("" if item.high == item.low else "-" + _literal(item.high))
        for item in items
        if not (isinstance(item, ClassEscape) and item.letter.isupper())
    )
    complements = [
        _ESCAPE_SETS[item.letter.lower()] for item in items if isinstance(item, ClassEscape) and item.letter.isupper()
    ]
    if not negated:
        parts = ([f"[{plain}]"] if plain else []) + [f"[^{body}]" for body in complements]
        if not parts:
            return "(?!)"  # [] matches nothing
        return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
    if not complements:
        return f"[^{plain}]" if plain else _ANY  # [^] matches any character
    guards = (f"(?![{plain}])" if plain else "") + "".join(f"(?=[{body}])" for body in complements[:-1])
    return guards + f"[{complements[-1]}]"
