"""The `[blueprint]` section of a task that uses `type = "bundle"`."""

from __future__ import annotations

from pathlib import Path

from mephisto_blueprint_static.args import DATA_KEYS
from pydantic import Field, model_validator

from mephisto_core.abstractions import BlueprintArgs


class BundleBlueprintArgs(BlueprintArgs):
    """A page built by the researcher's own toolchain, one data file; paths are relative to the task file."""

    bundle_dir: Path = Field(
        default=Path("dist"),
        description=(
            "The built page: a folder with index.html and its assets, as `npm run build` (Vite, webpack, ...) "
            "writes it. Served as it is, with /mephisto-task.js added first to index.html."
        ),
    )
    data_csv: Path | None = Field(default=None, description="CSV file with a header row; each row is one assignment.")
    data_json: Path | None = Field(default=None, description="JSON file holding a list of objects, one per assignment.")
    data_jsonl: Path | None = Field(default=None, description="JSON Lines file: one object per line, per assignment.")
    preview_source: Path | None = Field(
        default=None,
        description="HTML file whose text the preview page receives as initialTaskData.html. Optional.",
    )
    onboarding_data: Path | None = Field(
        default=None,
        description=(
            "JSON file with one object: the initialTaskData of an onboarding unit every worker does once first "
            "(the page sees isOnboarding). Optional; grade it with [task.onboarding]."
        ),
    )
    required_outputs: list[str] = Field(
        default_factory=list, description="Answer keys every submission must have (checked by the server)."
    )
    upload_fields: list[str] = Field(
        default_factory=list,
        description="Field names under which the page may upload files; files under any other name are refused.",
    )
    sources: list[Path] = Field(
        default_factory=lambda: [Path("src"), Path("package.json"), Path("index.html")],
        description=(
            "Files and folders the bundle is built from: `mephisto check` and launch refuse a bundle_dir older "
            "than any of them. Missing ones are skipped."
        ),
    )
    build_command: str = Field(
        default="npm run build", min_length=1, description="The command the error messages tell you to run."
    )
    check_freshness: bool = Field(
        default=True, description="Refuse a bundle older than its sources. Turn off for a bundle built elsewhere."
    )

    @model_validator(mode="after")
    def _exactly_one_data_file(self) -> BundleBlueprintArgs:
        given = [key for key in DATA_KEYS if getattr(self, key) is not None]
        if len(given) != 1:
            found = "none of them" if not given else " and ".join(given)
            raise ValueError(f"give exactly one of {', '.join(DATA_KEYS)} (found {found})")
        return self

    @property
    def data_key(self) -> str:
        """Which of the data keys is set."""
        return next(key for key in DATA_KEYS if getattr(self, key) is not None)
