"""The named form fields of a task page, read from its HTML with `html.parser`.

The page script (`assets/static-task.js`) turns the same fields into an answer by the same rules, which
`FieldKind` spells out; the two must change together.
"""

from __future__ import annotations

import enum
import re
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser

from mephisto_blueprint_static.template import fill

# Input types that are buttons: never part of the answer.
BUTTON_TYPES = frozenset({"submit", "button", "reset", "image"})
NUMBER_TYPES = frozenset({"number", "range"})


class FieldKind(enum.Enum):
    """How the answer holds a field (the page script produces exactly this)."""

    TEXT = "text"  # any text-like input: a string
    NUMBER = "number"  # number or range input: the string as typed
    EMAIL = "email"  # a string
    TEXTAREA = "textarea"  # a string
    SELECT = "select"  # the selected option's value
    SELECT_MULTIPLE = "select_multiple"  # list of selected values
    RADIO = "radio"  # the checked value, or null
    CHECKBOX = "checkbox"  # one checkbox with this name: true / false
    CHECKBOX_GROUP = "checkbox_group"  # several checkboxes with this name: list of checked values
    FILE = "file"  # list of the chosen files' names (the files travel separately)
    MIXED = "mixed"  # several controls of different kinds under one name: list of their values

    @property
    def is_list(self) -> bool:
        """Whether the answer holds a list of strings for this kind."""
        # By value: asked for every field of every submission, and an Enum member hashes in Python code.
        return self._value_ in _LIST_KINDS


#: the values of the kinds whose answer is a list of strings
_LIST_KINDS = frozenset(
    kind.value for kind in (FieldKind.SELECT_MULTIPLE, FieldKind.CHECKBOX_GROUP, FieldKind.FILE, FieldKind.MIXED)
)


@dataclass
class Option:
    """An `<option>` of a select."""

    value: str
    disabled: bool = False


@dataclass
class Control:
    """One input, select or textarea element with a name."""

    tag: str
    type: str  # the input type (lower case), "select", "select-multiple" or "textarea"
    name: str
    attrs: dict[str, str | None]
    options: list[Option] = field(default_factory=list)

    @property
    def value(self) -> str:
        """The `value` attribute; checkboxes and radios without one submit "on", as browsers do."""
        value = self.attrs.get("value")
        if value is None:
            return "on" if self.type in ("checkbox", "radio") else ""
        return value

    @property
    def required(self) -> bool:
        """Whether the element has the `required` attribute."""
        return "required" in self.attrs

    def number_attr(self, name: str) -> float | None:
        """A numeric attribute such as min, max or step, or None when absent or not a number."""
        raw = self.attrs.get(name)
        if raw is None:
            return None
        try:
            return float(raw)
        except ValueError:
            return None

    def int_attr(self, name: str) -> int | None:
        """A non-negative integer attribute such as minlength or maxlength, or None."""
        raw = (self.attrs.get(name) or "").strip()
        return int(raw) if raw.isdigit() else None


@dataclass
class FormField:
    """All controls sharing one name, and the kind of answer they make."""

    name: str
    kind: FieldKind
    controls: list[Control]

    @property
    def required(self) -> bool:
        """Whether any of its controls is required."""
        return any(c.required for c in self.controls)


def form_fields(source: str) -> dict[str, FormField]:
    """The named fields of `source`, by name, in order of appearance."""
    parser = _ControlParser()
    parser.feed(source)
    parser.close()
    groups: dict[str, list[Control]] = {}
    for control in parser.controls:
        groups.setdefault(control.name, []).append(control)
    return {name: FormField(name, _kind_of(controls), controls) for name, controls in groups.items()}


# Stands in for every data value when looking for placeholders that could change the fields: it starts with a
# letter (after "<" it reads as a tag name), holds a space (in an unquoted attribute it starts another
# attribute) and a private-use character (to see where it landed).
_MARK = "\ue000"
_PROBE = f"p{_MARK} {_MARK}"
# The attribute values that decide a field; `multiple` decides by its presence (an attribute name).
_DECISIVE_ATTRIBUTES = frozenset({"name", "type"})


def row_independent_fields(source: str) -> dict[str, FormField] | None:
    """The named fields of a task page with `${column}` placeholders when no data row can change them, else None.

    Values are HTML-escaped when the page is filled, so a value changes the fields only where its placeholder
    sits in markup that is read as such: a tag or attribute name, an unquoted attribute value, or the value
    of a `name` or `type` attribute. Filling every placeholder with a probe and seeing where it landed finds
    exactly those places.
    """
    probed = fill(source, defaultdict(lambda: _PROBE))
    scanner = _ProbeScanner()
    scanner.feed(probed)
    scanner.close()
    return None if scanner.row_dependent else form_fields(probed)


class _ProbeScanner(HTMLParser):
    """Notices a probe in a start tag where it would decide a field."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.row_dependent = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if _MARK in tag or any(
            _MARK in name or (name in _DECISIVE_ATTRIBUTES and _MARK in (value or "")) for name, value in attrs
        ):
            self.row_dependent = True


def _kind_of(controls: list[Control]) -> FieldKind:
    types = {c.type for c in controls}
    if types == {"radio"}:
        return FieldKind.RADIO
    if types == {"checkbox"}:
        return FieldKind.CHECKBOX if len(controls) == 1 else FieldKind.CHECKBOX_GROUP
    if len(controls) > 1:
        return FieldKind.MIXED
    kind = controls[0].type
    if kind == "select-multiple":
        return FieldKind.SELECT_MULTIPLE
    if kind == "select":
        return FieldKind.SELECT
    if kind == "textarea":
        return FieldKind.TEXTAREA
    if kind == "file":
        return FieldKind.FILE
    if kind in NUMBER_TYPES:
        return FieldKind.NUMBER
    if kind == "email":
        return FieldKind.EMAIL
    return FieldKind.TEXT


_SPACES = re.compile(r"\s+")


class _ControlParser(HTMLParser):
    """Collects named controls; options are gathered for the select they belong to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.controls: list[Control] = []
        self._select: Control | None = None  # the select being read (a dummy one when it has no name)
        self._option_attrs: dict[str, str | None] | None = None
        self._option_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        name = attributes.get("name")
        if tag == "input":
            kind = (attributes.get("type") or "text").strip().lower()
            if name and kind not in BUTTON_TYPES:
                self.controls.append(Control("input", kind, name, attributes))
        elif tag == "textarea" and name:
            self.controls.append(Control("textarea", "textarea", name, attributes))
        elif tag == "select":
            self._end_option()
            kind = "select-multiple" if "multiple" in attributes else "select"
            self._select = Control("select", kind, name or "", attributes)
            if name:
                self.controls.append(self._select)
        elif tag == "option" and self._select is not None:
            self._end_option()
            self._option_attrs = attributes
            self._option_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "option":
            self._end_option()
        elif tag == "select":
            self._end_option()
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._option_attrs is not None:
            self._option_text.append(data)

    def _end_option(self) -> None:
        if self._option_attrs is None or self._select is None:
            self._option_attrs = None
            return
        value = self._option_attrs.get("value")
        if value is None:
            # Browsers use the option's text, with runs of white space collapsed, when it has no value.
            value = _SPACES.sub(" ", "".join(self._option_text)).strip()
        self._select.options.append(Option(value, "disabled" in self._option_attrs))
        self._option_attrs = None
