"""Read a JavaScript regular expression the way the worker's browser does, so the server can run the same test.

The page compiles a `regexp` validator as `new RegExp(pattern, flags + "u")` (Unicode mode, `g` dropped) and
calls `.test(value)`. Python's `re` differs from that in small ways that matter for validation: `$` also matches
before a final newline, `.` matches `\\r`, `\\d` and `\\w` match non-ASCII digits and letters, `\\s` has another
set of spaces. So the pattern is parsed here into a tree (rejecting what the browser would reject) and written
out again as a Python pattern that spells every construct out explicitly (see `python_source`).

Parsing follows the ECMAScript grammar for Unicode-mode patterns. Patterns the server cannot check the same way
raise `UnsupportedRegexp`; patterns the browser would refuse raise `RegexpSyntaxError`.
"""

from __future__ import annotations

from dataclasses import dataclass

ALLOWED_FLAGS = "gimsu"
# The characters JavaScript's `\s` and String.prototype.trim treat as white space (WhiteSpace + LineTerminator).
JS_WHITESPACE = (
    "\t\n\u000b\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
LINE_TERMINATORS = "\n\r\u2028\u2029"
_SYNTAX_CHARACTERS = frozenset("^$\\.*+?()[]{}|/")
_CONTROL_ESCAPES = {"f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_CLASS_ESCAPES = frozenset("dDwWsS")
_HEX = frozenset("0123456789abcdefABCDEF")


class RegexpProblem(ValueError):
    """A pattern that cannot be used; the message says why, in words for the person who wrote it."""


class RegexpSyntaxError(RegexpProblem):
    """The worker's browser would refuse this pattern (it throws a SyntaxError)."""


class UnsupportedRegexp(RegexpProblem):
    """Valid JavaScript, but the server cannot check it exactly as the browser does."""


# ---- the tree ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Char:
    """One literal code point."""

    code: int


@dataclass(frozen=True)
class AnyChar:
    """`.`: any character but a line terminator (any character at all with the `s` flag)."""


@dataclass(frozen=True)
class ClassEscape:
    """`\\d`, `\\D`, `\\w`, `\\W`, `\\s` or `\\S` (the letter is kept)."""

    letter: str


@dataclass(frozen=True)
class Range:
    """`a-z` inside a character class (a single character is a range of one)."""

    low: int
    high: int


@dataclass(frozen=True)
class CharClass:
    """`[...]` or `[^...]`."""

    negated: bool
    items: tuple[Range | ClassEscape, ...]


@dataclass(frozen=True)
class Assertion:
    """`^`, `$`, `\\b` (kind "b") or `\\B` (kind "B")."""

    kind: str


@dataclass(frozen=True)
class Look:
    """A lookahead or lookbehind, positive or negative."""

    child: Node
    behind: bool
    negative: bool


@dataclass(frozen=True)
class Group:
    """`(...)`, `(?<name>...)` or `(?:...)`."""

    child: Node
    capturing: bool
    name: str | None = None


@dataclass(frozen=True)
class Repeat:
    """A quantified atom: `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`, each optionally lazy."""

    child: Node
    low: int
    high: int | None
    lazy: bool


@dataclass(frozen=True)
class Sequence:
    """Terms one after the other."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alternation:
    """`a|b|c`."""

    branches: tuple[Node, ...]


Node = Char | AnyChar | ClassEscape | CharClass | Assertion | Look | Group | Repeat | Sequence | Alternation


# ---- flags -------------------------------------------------------------------------------------------


def check_flags(flags: str) -> None:
    """Raise RegexpProblem unless `flags` is a set of the flags both sides understand (g, i, m, s, u)."""
    for flag in flags:
        if flag in "ydv":
            what = {"y": "sticky", "d": "match indices", "v": "extended character classes"}[flag]
            raise UnsupportedRegexp(
                f"the flag {flag!r} ({what}) is not supported; use only g, i, m, s and u "
                "(the browser always adds u, and g makes no difference to a check)"
            )
        if flag not in ALLOWED_FLAGS:
            raise RegexpSyntaxError(f"{flag!r} is not a regular expression flag; use only g, i, m, s and u")
    repeated = sorted({f for f in flags if flags.count(f) > 1})
    if repeated:
        raise RegexpSyntaxError(f"the flag {repeated[0]!r} is given twice")


# ---- parser ------------------------------------------------------------------------------------------


def parse(pattern: str) -> Node:
    """The tree of `pattern`, read as a Unicode-mode JavaScript pattern; raises RegexpProblem."""
    parser = _Parser(pattern)
    node = parser.disjunction()
    if parser.at < len(pattern):
        # The only way a disjunction stops early is an unmatched ")".
        raise RegexpSyntaxError(f"unmatched ')' at position {parser.at}")
    return node


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.at = 0
        self.escape_at = 0  # where the escape being read starts, for messages
        self.group_names: set[str] = set()

    # -- helpers

    def peek(self, offset: int = 0) -> str:
        index = self.at + offset
        return self.text[index] if index < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.at += 1
        return char

    def startswith(self, prefix: str) -> bool:
        return self.text.startswith(prefix, self.at)

    def fail(self, message: str, at: int | None = None) -> RegexpSyntaxError:
        return RegexpSyntaxError(f"{message} at position {self.at if at is None else at}")

    # -- grammar

    def disjunction(self) -> Node:
        branches = [self.sequence()]
        while self.peek() == "|":
            self.at += 1
            branches.append(self.sequence())
        return branches[0] if len(branches) == 1 else Alternation(tuple(branches))

    def sequence(self) -> Node:
        items: list[Node] = []
        while self.at < len(self.text) and self.peek() not in "|)":
            items.append(self.term())
        return items[0] if len(items) == 1 else Sequence(tuple(items))

    def term(self) -> Node:
        start = self.at
        atom, quantifiable = self.atom()
        if self.peek() in ("*", "+", "?") or (self.peek() == "{" and self._quantifier_ahead()):
            if not quantifiable:
                raise RegexpSyntaxError(f"the assertion at position {start} cannot be repeated")
            atom = self.quantifier(atom)
        if self.peek() in ("*", "+", "?", "{"):
            raise self.fail("nothing to repeat")
        return atom

    def _quantifier_ahead(self) -> bool:
        rest = self.text[self.at :]
        close = rest.find("}")
        if close < 0:
            raise self.fail("incomplete quantifier '{'")
        low, comma, high = rest[1:close].partition(",")
        if not low.isdigit() or not low.isascii() or (high and (not high.isdigit() or not high.isascii())):
            raise self.fail("incomplete quantifier '{'")
        return bool(comma) or not high

    def quantifier(self, atom: Node) -> Node:
        char = self.take()
        low: int
        high: int | None
        if char == "*":
            low, high = 0, None
        elif char == "+":
            low, high = 1, None
        elif char == "?":
            low, high = 0, 1
        else:
            close = self.text.index("}", self.at)
            low_text, comma, high_text = self.text[self.at : close].partition(",")
            self.at = close + 1
            low = int(low_text)
            high = int(high_text) if high_text else (None if comma else low)
            if high is not None and high < low:
                raise self.fail(f"numbers out of order in {{{low},{high}}} quantifier")
        lazy = self.peek() == "?"
        if lazy:
            self.at += 1
        return Repeat(atom, low, high, lazy)

    def atom(self) -> tuple[Node, bool]:
        """The next atom and whether a quantifier may follow it."""
        char = self.peek()
        if char == "^" or char == "$":
            self.at += 1
            return Assertion(char), False
        if char == "\\" and self.peek(1) in ("b", "B"):
            self.at += 2
            return Assertion(self.text[self.at - 1]), False
        if char == "(":
            return self.group()
        if char == ".":
            self.at += 1
            return AnyChar(), True
        if char == "[":
            return self.char_class(), True
        if char == "\\":
            return self.atom_escape(), True
        if char in ("*", "+", "?"):
            raise self.fail("nothing to repeat")
        if char == "{":
            raise self.fail("nothing to repeat before '{' (write \\{ for a literal brace)")
        if char in ("}", "]"):
            raise self.fail(f"lone {char!r} (write \\{char} for a literal one)")
        self.at += 1
        return Char(ord(char)), True

    def group(self) -> tuple[Node, bool]:
        self.at += 1  # "("
        for prefix, behind, negative in (
            ("?=", False, False),
            ("?!", False, True),
            ("?<=", True, False),
            ("?<!", True, True),
        ):
            if self.startswith(prefix):
                self.at += len(prefix)
                child = self.disjunction()
                self.close_group()
                # Unicode mode forbids quantifying any lookaround.
                return Look(child, behind, negative), False
        if self.startswith("?:"):
            self.at += 2
            child = self.disjunction()
            self.close_group()
            return Group(child, capturing=False), True
        if self.startswith("?<"):
            self.at += 2
            name = self.group_name()
            child = self.disjunction()
            self.close_group()
            return Group(child, capturing=True, name=name), True
        if self.peek() == "?":
            if self.peek(1).isalpha() or self.peek(1) == "-":
                raise UnsupportedRegexp(
                    f"inline flags such as (?i:...) at position {self.at - 1} are not supported; give the flags "
                    "with the pattern instead"
                )
            raise self.fail("invalid group")
        child = self.disjunction()
        self.close_group()
        return Group(child, capturing=True), True

    def close_group(self) -> None:
        if self.peek() != ")":
            raise self.fail("missing ')'")
        self.at += 1

    def group_name(self) -> str:
        end = self.text.find(">", self.at)
        if end < 0:
            raise self.fail("invalid capture group name")
        name = self.text[self.at : end]
        if not name or not (name[0].isalpha() or name[0] in "_$") or not all(c.isalnum() or c in "_$" for c in name):
            raise self.fail(f"invalid capture group name {name!r}")
        if "$" in name or not name.isidentifier():
            raise UnsupportedRegexp(f"the group name {name!r} is not supported; use letters, digits and _ only")
        if name in self.group_names:
            raise self.fail(f"duplicate capture group name {name!r}")
        self.group_names.add(name)
        self.at = end + 1
        return name

    def atom_escape(self) -> Node:
        self.escape_at = self.at
        self.at += 1  # "\\"
        char = self.take()
        if char == "":
            raise RegexpSyntaxError("\\ at end of pattern")
        if char in _CLASS_ESCAPES:
            return ClassEscape(char)
        if char.isdigit() and char != "0":
            raise UnsupportedRegexp(f"backreferences such as \\{char} (position {self.at - 2}) are not supported")
        if char == "k":
            raise UnsupportedRegexp(f"named backreferences \\k<...> (position {self.at - 2}) are not supported")
        if char == "-":
            raise self.fail("invalid escape '\\-' outside a character class (write - alone)", self.escape_at)
        return Char(self.character_escape(char, in_class=False))

    def character_escape(self, char: str, *, in_class: bool) -> int:
        """The code point of the escape `\\<char>...` (the backslash and `char` already taken)."""
        if char in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[char]
        if char == "0":
            if self.peek().isdigit():
                raise self.fail("invalid decimal escape (octal escapes are not allowed)", self.escape_at)
            return 0
        if char == "c":
            letter = self.peek()
            if not (letter.isascii() and letter.isalpha()):
                raise self.fail("invalid control escape \\c (it needs a letter after it)", self.escape_at)
            self.at += 1
            return ord(letter) % 32
        if char == "x":
            digits = self.text[self.at : self.at + 2]
            if len(digits) != 2 or not set(digits) <= _HEX:
                raise self.fail("invalid escape \\x (it needs two hex digits)", self.escape_at)
            self.at += 2
            return int(digits, 16)
        if char == "u":
            return self.unicode_escape()
        if char in ("p", "P"):
            raise UnsupportedRegexp(
                f"Unicode property escapes \\{char}{{...}} (position {self.escape_at}) are not supported; "
                "list the characters in a class instead"
            )
        if char in _SYNTAX_CHARACTERS or (in_class and char == "-"):
            return ord(char)
        raise self.fail(
            f"invalid escape '\\{char}' (the page compiles patterns in Unicode mode, where only "
            f"^ $ \\ . * + ? ( ) [ ] {{ }} | / may be escaped; write {char} alone)",
            self.escape_at,
        )

    def unicode_escape(self) -> int:
        if self.peek() == "{":
            close = self.text.find("}", self.at)
            digits = self.text[self.at + 1 : close] if close > 0 else ""
            if not digits or not set(digits) <= _HEX or int(digits, 16) > 0x10FFFF:
                raise self.fail("invalid Unicode escape \\u{...}", self.escape_at)
            self.at = close + 1
            return int(digits, 16)
        code = self.four_hex()
        # In Unicode mode an escaped surrogate pair stands for one code point.
        if 0xD800 <= code <= 0xDBFF and self.startswith("\\u"):
            saved = self.at
            self.at += 2
            try:
                low = self.four_hex()
            except RegexpSyntaxError:
                low = -1
            if 0xDC00 <= low <= 0xDFFF:
                return 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            self.at = saved
        return code

    def four_hex(self) -> int:
        digits = self.text[self.at : self.at + 4]
        if len(digits) != 4 or not set(digits) <= _HEX:
            raise self.fail("invalid Unicode escape \\u (it needs four hex digits)", self.escape_at)
        self.at += 4
        return int(digits, 16)

    def char_class(self) -> CharClass:
        self.at += 1  # "["
        negated = self.peek() == "^"
        if negated:
            self.at += 1
        items: list[Range | ClassEscape] = []
        while True:
            if self.at >= len(self.text):
                raise RegexpSyntaxError("unterminated character class '['")
            if self.peek() == "]":
                self.at += 1
                return CharClass(negated, tuple(items))
            first = self.class_atom()
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.at += 1
                last = self.class_atom()
                if isinstance(first, ClassEscape) or isinstance(last, ClassEscape):
                    raise self.fail("invalid character class range (a range cannot start or end at \\d, \\w or \\s)")
                if last < first:
                    raise self.fail("range out of order in character class")
                items.append(Range(first, last))
            elif isinstance(first, ClassEscape):
                items.append(first)
            else:
                items.append(Range(first, first))

    def class_atom(self) -> int | ClassEscape:
        self.escape_at = self.at
        char = self.take()
        if char != "\\":
            return ord(char)
        escaped = self.take()
        if escaped == "":
            raise RegexpSyntaxError("\\ at end of pattern")
        if escaped in _CLASS_ESCAPES:
            return ClassEscape(escaped)
        if escaped == "b":
            return 0x08  # backspace, inside a class
        if escaped == "B" or (escaped.isdigit() and escaped != "0") or escaped == "k":
            raise self.fail(f"invalid escape '\\{escaped}' in a character class", self.escape_at)
        return self.character_escape(escaped, in_class=True)
