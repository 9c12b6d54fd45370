"""The `[blueprint]` section of a task that uses `type = "form"`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from mephisto_core.abstractions import BlueprintArgs


class FormBlueprintArgs(BlueprintArgs):
    """A form described in JSON (the original form composer's format); paths are relative to the task file."""

    data_json: Path = Field(
        description=(
            'JSON file with the form: one form config ({"form": {...}}) that every unit shows, or a list of '
            "them, one assignment each (what `mephisto form expand` writes). Check it with `mephisto form validate`."
        ),
    )
    units: int = Field(
        default=1,
        ge=1,
        le=100_000,
        description=(
            "How many assignments to make when data_json holds a single form (each one answered by "
            "task.units_per_assignment workers). Leave it out when data_json is a list."
        ),
    )
