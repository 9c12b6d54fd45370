"""The `[blueprint]` section of a task that uses `type = "annotate"`, with its `[[blueprint.schemes]]` tables.

Every rule about a scheme is checked here, when the task file is read, so `mephisto check` reports a bad scheme
with the file, the line of its table and the key (the task file loader locates pydantic's errors).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mephisto_core.abstractions import BlueprintArgs

SchemeType = Literal["single", "multi", "likert", "slider", "text", "span", "pairwise", "bestworst"]
DATA_KEYS = ("data_csv", "data_json", "data_jsonl")
NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
#: Keys the page keeps for itself: moving and extending the span cursor, Tab, Enter, Escape, space.
RESERVED_KEYS = frozenset({" ", "enter", "tab", "escape", "arrowleft", "arrowright", "arrowup", "arrowdown"})

# Which optional keys each scheme type reads; any other key given is an error (it would be silently ignored).
_COMMON = {"name", "type", "question", "required"}
_KEYS_BY_TYPE: dict[str, set[str]] = {
    "single": {"labels"},
    "multi": {"labels", "min_choices", "max_choices"},
    "likert": {"points", "low_label", "high_label"},
    "slider": {"min", "max", "step"},
    "text": {"min_length", "max_length", "rows"},
    "span": {"labels", "field", "allow_overlap", "tokens"},
    "pairwise": {"items", "allow_tie"},
    "bestworst": {"items"},
}


class Label(BaseModel):
    """One label of a single, multi or span scheme: its value and an optional one-key shortcut."""

    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=100, description="What the answer stores.")
    key: str | None = Field(default=None, description="Keyboard shortcut: one character, e.g. 'p'.")

    @field_validator("key")
    @classmethod
    def _one_key(cls, key: str | None) -> str | None:
        if key is None:
            return None
        if len(key) != 1 or key.lower() in RESERVED_KEYS or not key.isprintable():
            raise ValueError(f"a shortcut is one printable character other than space (found {key!r})")
        return key.lower()


class Scheme(BaseModel):
    """One question asked about every data row."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="The answer's key (a letter, then letters, digits, _).")
    type: SchemeType = Field(description="single, multi, likert, slider, text, span, pairwise or bestworst.")
    question: str = Field(default="", description="The question shown above the controls.")
    required: bool = Field(default=True, description="Whether the worker must answer (span: mark one span).")
    labels: list[Label] = Field(default_factory=list, description="single, multi, span: the labels.")
    min_choices: int = Field(default=0, ge=0, le=1000, description="multi: fewest labels to pick.")
    max_choices: int | None = Field(default=None, ge=1, le=1000, description="multi: most labels to pick.")
    points: int = Field(default=5, ge=2, le=11, description="likert: how many points (2-11).")
    low_label: str = Field(default="", description="likert: text at point 1.")
    high_label: str = Field(default="", description="likert: text at the last point.")
    min: float = Field(default=0, ge=-1e12, le=1e12, allow_inf_nan=False, description="slider: smallest value.")
    max: float = Field(default=100, ge=-1e12, le=1e12, allow_inf_nan=False, description="slider: largest value.")
    step: float = Field(default=1, gt=0, le=1e12, allow_inf_nan=False, description="slider: step between values.")
    min_length: int = Field(default=0, ge=0, le=1_000_000, description="text: fewest characters.")
    max_length: int = Field(default=10_000, ge=1, le=1_000_000, description="text: most characters.")
    rows: int = Field(default=3, ge=1, le=40, description="text: height of the box in lines.")
    field: str | None = Field(default=None, min_length=1, description="span: the data column holding the text.")
    allow_overlap: bool = Field(default=False, description="span: whether two spans may share characters.")
    tokens: bool = Field(default=False, description="span: snap spans to whole words (whitespace tokens).")
    items: list[str] = Field(default_factory=list, description="pairwise, bestworst: data columns to compare.")
    allow_tie: bool = Field(default=False, description="pairwise: offer 'about the same'.")

    @field_validator("labels", mode="before")
    @classmethod
    def _plain_labels(cls, labels: Any) -> Any:
        # `labels = ["yes", "no"]` is the short form of `labels = [{value = "yes"}, {value = "no"}]`.
        if isinstance(labels, list):
            return [{"value": label} if isinstance(label, str) else label for label in labels]
        return labels

    @model_validator(mode="after")
    def _consistent(self) -> Scheme:
        allowed = _COMMON | _KEYS_BY_TYPE[self.type]
        # A key left at its default is harmless (a stored run's configuration lists every key with its value).
        fields = type(self).model_fields
        stray = sorted(
            key
            for key in self.model_fields_set - allowed
            if getattr(self, key) != fields[key].get_default(call_default_factory=True)
        )
        if stray:
            raise ValueError(f"{', '.join(stray)} do(es) not apply to a {self.type} scheme; remove it")
        if self.type in ("single", "multi", "span"):
            self._check_labels()
        if self.type == "multi":
            top = self.max_choices if self.max_choices is not None else len(self.labels)
            if self.min_choices > top or top > len(self.labels):
                raise ValueError(
                    f"min_choices ({self.min_choices}) and max_choices ({top}) must satisfy "
                    f"min_choices <= max_choices <= {len(self.labels)} labels"
                )
        if self.type == "slider" and not self.min < self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        if self.type == "text" and self.min_length > self.max_length:
            raise ValueError(f"min_length ({self.min_length}) is above max_length ({self.max_length})")
        if self.type == "span" and self.field is None:
            raise ValueError("a span scheme needs field = the data column holding the text to mark")
        if self.type == "pairwise" and len(self.items) != 2:
            raise ValueError(f"a pairwise scheme compares exactly 2 items (found {len(self.items)})")
        if self.type == "bestworst" and len(self.items) < 3:
            raise ValueError(f"a bestworst scheme needs at least 3 items (found {len(self.items)})")
        if len(set(self.items)) != len(self.items):
            raise ValueError("items name the same column twice")
        return self

    def _check_labels(self) -> None:
        if not self.labels:
            raise ValueError(f"a {self.type} scheme needs labels")
        values = [label.value for label in self.labels]
        twice = sorted({value for value in values if values.count(value) > 1})
        if twice:
            raise ValueError(f"label {twice[0]!r} is given twice")

    @property
    def shortcuts(self) -> dict[str, str]:
        """{key: label value} of the labels that have a shortcut."""
        return {label.key: label.value for label in self.labels if label.key is not None}

    @property
    def columns(self) -> list[str]:
        """The data columns this scheme reads (the span's text, the compared items)."""
        return [self.field] if self.field is not None else list(self.items)


class AnnotateBlueprintArgs(BlueprintArgs):
    """Data rows annotated with the schemes declared below; paths are relative to the task file."""

    data_csv: Path | None = Field(default=None, description="CSV with a header row; each row is one assignment.")
    data_json: Path | None = Field(default=None, description="JSON list of objects; each is one assignment.")
    data_jsonl: Path | None = Field(default=None, description="JSON Lines: each line's object is one assignment.")
    instructions: str = Field(
        default="", description="Instructions shown in a panel above the task (HTML, written by you: trusted)."
    )
    display_fields: list[str] | None = Field(
        default=None,
        description="Data columns shown above the questions (default: every column no scheme shows itself).",
    )
    submit_button_text: str = Field(default="Submit", min_length=1, description="Label of the submit button.")
    schemes: list[Scheme] = Field(
        min_length=1, description="The questions, one [[blueprint.schemes]] table each (see the plugin README)."
    )

    @model_validator(mode="after")
    def _whole(self) -> AnnotateBlueprintArgs:
        given = [key for key in DATA_KEYS if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(DATA_KEYS)} (found {', '.join(given) or 'none'})")
        names = [scheme.name for scheme in self.schemes]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"two schemes are named {twice[0]!r}; each scheme needs its own name")
        owner: dict[str, str] = {}
        for scheme in self.schemes:
            for key in scheme.shortcuts:
                if key in owner:
                    raise ValueError(
                        f"the shortcut {key!r} is used by both {owner[key]!r} and {scheme.name!r}: "
                        "shortcuts work on the whole page, so each must be unique"
                    )
                owner[key] = scheme.name
        return self

    @property
    def data_key(self) -> str:
        """Which data key is set."""
        return next(key for key in DATA_KEYS if getattr(self, key) is not None)

    @property
    def data_path(self) -> Path:
        """The data file, whichever key names it."""
        path = getattr(self, self.data_key)
        assert isinstance(path, Path)
        return path
