"""Blueprint: a task type. It turns the task's data into assignments, builds the worker page, checks answers."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from mephisto_core.abstractions.live import LivePages, LiveSession
    from mephisto_core.abstractions.task_args import TaskArgs


class BlueprintArgs(BaseModel):
    """Base of a blueprint's `[blueprint]` section schema; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class UploadedFile:
    """A file a worker uploaded with a submission, as the blueprint sees it when validating."""

    field: str
    name: str
    size: int
    content_type: str
    path: Path


@dataclass
class SimulatedAnswer:
    """What a simulated worker submits: form outputs plus files as (field, name, content_type, bytes)."""

    outputs: dict[str, Any]
    files: list[tuple[str, str, str, bytes]] = field(default_factory=list)
    #: a live task's bot chats instead of submitting: it sends `outputs["text"]` at each turn it is given, and its
    #: unit is settled by the task (see `live_session`)
    live: bool = False


class Blueprint:
    """Base class of task types.

    A subclass sets `type_name` (the `[blueprint] type` in task files) and `Args` (its section's schema), and
    implements the methods below. One instance serves one task run; it must be cheap to construct (no I/O in
    `__init__`): `check()` does the validation that reads files.
    """

    type_name: ClassVar[str]
    Args: ClassVar[type[BlueprintArgs]] = BlueprintArgs

    def __init__(self, args: BlueprintArgs, task: TaskArgs, task_dir: Path) -> None:
        self.args = args
        self.task = task
        self.task_dir = task_dir

    def check(self) -> None:
        """Validate what the arguments point at (files exist, data parses); raise ConfigError naming the key.

        `mephisto check` calls this: it must report a problem anywhere in the data before any launch.
        """

    def check_launch(self) -> None:
        """The checks a launch needs before its link is served; by default all of `check()`.

        A blueprint with large data may check only what is needed to serve the first assignments here, if its
        `iter_assignments` raises the same ConfigError `check()` would before yielding a bad item: the launch
        then stops at that item, before any unit of it is created, and withdraws the units it offered.
        """
        self.check()

    def iter_assignments(self) -> Iterator[dict[str, Any]]:
        """Yield the inputs of each assignment, in order. Each assignment gets `task.units_per_assignment` units."""
        raise NotImplementedError(f"{type(self).__name__} must implement iter_assignments()")

    def count_assignments(self) -> int:
        """How many assignments the data makes (used by `mephisto check` for the cost estimate)."""
        return sum(1 for _ in self.iter_assignments())

    def build(self, build_dir: Path) -> None:
        """Write everything the router serves for this task into `build_dir`.

        `build_dir/index.html` is the worker page. It must load `/mephisto-task.js` (served by the router) and
        render the task from `window.mephisto`. Other files are served under their relative paths.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement build()")

    def init_data(self, inputs: dict[str, Any], unit_index: int) -> dict[str, Any]:
        """The `initialTaskData` a worker's page receives for a unit with these inputs."""
        return inputs

    def preview_data(self) -> dict[str, Any]:
        """The `initialTaskData` of the preview page (shown to a visitor who is not a worker yet)."""
        return {}

    def has_onboarding(self) -> bool:
        """Whether workers must pass an onboarding test before their first unit of this task."""
        return False

    def onboarding_data(self) -> dict[str, Any]:
        """The `initialTaskData` of the onboarding page."""
        return {}

    def validate_onboarding(self, outputs: dict[str, Any]) -> bool:
        """Whether an onboarding submission passes."""
        return True

    def validate_outputs(
        self, inputs: dict[str, Any], outputs: dict[str, Any], files: list[UploadedFile]
    ) -> dict[str, str]:
        """Server-side check of a submission: {field name: message} for each problem; empty means accepted."""
        return {}

    def review_html(
        self, inputs: dict[str, Any], outputs: dict[str, Any], file_urls: dict[str, list[str]]
    ) -> str | None:
        """An HTML fragment showing a submission the way this task type presents it, for the review app.

        `file_urls` maps each file field to the URLs the review app serves its uploads at. None (the default)
        lets the review app show the inputs and outputs as plain tables with download links.
        """
        return None

    def simulate_answer(self, init_data: dict[str, Any], rng: random.Random) -> SimulatedAnswer:
        """A plausible, valid answer to a unit, used by simulated workers (`mephisto launch --simulate`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot simulate workers yet")

    def live_session(self, pages: LivePages) -> LiveSession | None:
        """The live runtime of a run of this task, or None (the default) when its pages send no `live` messages.

        Called once per run after the worker pool exists; `pages` pushes to pages, stores transcript lines and ends
        units (see `mephisto_core.abstractions.LiveSession`).
        """
        return None
