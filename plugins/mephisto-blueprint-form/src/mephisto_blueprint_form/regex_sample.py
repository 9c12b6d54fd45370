"""Random strings shaped by a parsed pattern, for simulated workers.

The result is only a candidate: assertions and lookarounds are not taken into account while generating, so the
caller tests it with the real check (`rules.field_messages`) and asks again when it does not pass.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

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
)

# Characters tried first, so simulated answers read like something a person might type.
FRIENDLY = string.ascii_lowercase + string.ascii_uppercase + string.digits + "._- "
_RANDOM_TRIES = 400


def sample(node: Node, rng: random.Random, *, ignore_case: bool, dot_all: bool, spread: int) -> str | None:
    """A string the pattern tree could match, or None when a character class had nothing to offer.

    `spread` bounds how far past its minimum an open-ended or wide quantifier repeats.
    """
    generator = _Sampler(rng, ignore_case, dot_all, spread)
    try:
        return generator.run(node)
    except _NoCharacter:
        return None


class _NoCharacter(Exception):
    pass


def _escape_test(letter: str) -> Callable[[str], bool]:
    base = letter.lower()
    if base == "d":
        test: Callable[[str], bool] = lambda c: "0" <= c <= "9"  # noqa: E731 - tiny predicates read best inline
    elif base == "w":
        test = lambda c: c.isascii() and (c.isalnum() or c == "_")  # noqa: E731
    else:
        test = lambda c: c in JS_WHITESPACE  # noqa: E731
    return test if letter.islower() else (lambda c: not test(c))


class _Sampler:
    def __init__(self, rng: random.Random, ignore_case: bool, dot_all: bool, spread: int) -> None:
        self.rng = rng
        self.ignore_case = ignore_case
        self.dot_all = dot_all
        self.spread = spread

    def run(self, node: Node) -> str:
        match node:
            case Char(code):
                return chr(code)
            case AnyChar():
                return self.pick(lambda c: self.dot_all or c not in LINE_TERMINATORS, ())
            case ClassEscape(letter):
                return self.pick(_escape_test(letter), ())
            case CharClass(negated, items):
                return self.pick(self.class_test(negated, items), () if negated else items)
            case Assertion() | Look():
                return ""
            case Group(child):
                return self.run(child)
            case Repeat(child, low, high, _):
                top = low + self.spread if high is None else min(high, low + self.spread)
                return "".join(self.run(child) for _ in range(self.rng.randint(low, top)))
            case Sequence(items):
                return "".join(self.run(item) for item in items)
            case Alternation(branches):
                return self.run(self.rng.choice(branches))
        raise AssertionError(f"unknown regexp node {node!r}")

    def class_test(self, negated: bool, items: tuple[Range | ClassEscape, ...]) -> Callable[[str], bool]:
        def member(char: str) -> bool:
            variants = {char, char.lower(), char.upper()} if self.ignore_case else {char}
            for item in items:
                if isinstance(item, ClassEscape):
                    if any(_escape_test(item.letter)(v) for v in variants):
                        return True
                elif any(len(v) == 1 and item.low <= ord(v) <= item.high for v in variants):
                    return True
            return False

        return (lambda c: not member(c)) if negated else member

    def pick(self, test: Callable[[str], bool], items: tuple[Range | ClassEscape, ...]) -> str:
        friendly = [c for c in FRIENDLY if test(c)]
        if friendly:
            return self.rng.choice(friendly)
        ranges = [item for item in items if isinstance(item, Range)]
        if ranges:
            chosen = self.rng.choice(ranges)
            code = self.rng.randint(chosen.low, chosen.high)
            if not 0xD800 <= code <= 0xDFFF:
                return chr(code)
        for _ in range(_RANDOM_TRIES):
            char = chr(self.rng.randint(0x21, 0x2FFF))
            if test(char):
                return char
        raise _NoCharacter
