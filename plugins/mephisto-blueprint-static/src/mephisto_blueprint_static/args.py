"""The `[blueprint]` section of a task that uses `type = "static"`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from mephisto_core.abstractions import BlueprintArgs

DATA_KEYS = ("data_csv", "data_json", "data_jsonl")


class StaticBlueprintArgs(BlueprintArgs):
    """An HTML task page filled from one data file; paths are relative to the task file."""

    task_source: Path = Field(
        description=(
            "HTML file with the task a worker sees (a fragment: no <html> or <body> needed). "
            "Write ${column} where a value from the data file should appear; $${ gives a literal ${. "
            "Every named input, select and textarea becomes part of the answer."
        ),
    )
    preview_source: Path | None = Field(
        default=None,
        description="HTML shown to visitors before they accept the task (e.g. on MTurk). Optional.",
    )
    onboarding_source: Path | None = Field(
        default=None,
        description="HTML of a test workers take once before their first unit. Optional; leave out for none.",
    )
    extra_source_dir: Path | None = Field(
        default=None,
        description=(
            "Folder of images, CSS or scripts served beside the page, so the task HTML can use "
            'relative links such as <img src="images/cat.jpg">. Optional.'
        ),
    )
    data_csv: Path | None = Field(
        default=None,
        description="CSV file with a header row; each further row is one assignment. Give one data file.",
    )
    data_json: Path | None = Field(
        default=None,
        description="JSON file holding a list of objects; each object is one assignment.",
    )
    data_jsonl: Path | None = Field(
        default=None,
        description="JSON Lines file: one object per line; each line is one assignment.",
    )
    submit_button_text: str = Field(
        default="Submit", min_length=1, description="Label of the button that sends the answer."
    )

    @model_validator(mode="after")
    def _exactly_one_data_file(self) -> StaticBlueprintArgs:
        given = [key for key in DATA_KEYS if getattr(self, key) is not None]
        if len(given) != 1:
            found = "none of them" if not given else "both " + " and ".join(given)
            if len(given) > 2:
                found = "all of " + ", ".join(given)
            raise ValueError(f"give exactly one of {', '.join(DATA_KEYS)} (found {found})")
        return self

    @property
    def data_key(self) -> str:
        """Which of the data keys is set."""
        return next(key for key in DATA_KEYS if getattr(self, key) is not None)

    @property
    def data_path(self) -> Path:
        """The data file, whichever key names it."""
        path = getattr(self, self.data_key)
        assert isinstance(path, Path)
        return path
