"""LiveBlueprint: a task where a Python world talks with `units_per_assignment` workers at once."""

from __future__ import annotations

import random
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mephisto_blueprint_live.args import LiveBlueprintArgs
from mephisto_blueprint_live.review import chat_review_html
from mephisto_blueprint_live.task_module import load_world_module
from mephisto_core.abstractions import Blueprint, BlueprintArgs, SimulatedAnswer
from mephisto_core.errors import ConfigError
from mephisto_core.text_files import loads_json

if TYPE_CHECKING:
    from mephisto_core.abstractions import LivePages, LiveSession

ASSETS = ("index.html", "live-chat.js")


class LiveBlueprint(Blueprint):
    """Blueprint type `live`: workers enter together from a waiting room and a world in Python runs the episode."""

    type_name: ClassVar[str] = "live"
    Args: ClassVar[type[BlueprintArgs]] = LiveBlueprintArgs
    args: LiveBlueprintArgs
    _has_onboarding: bool | None = None

    def _path(self, value: str) -> Path:
        return (self.task_dir / value).resolve()

    def check(self) -> None:
        grace = self.task.disconnect_grace_seconds
        if self.args.partner_wait_seconds() > grace:
            # Past the grace period the pool gives the absent worker's unit to someone else: waiting longer is moot.
            raise ConfigError(
                f"waits longer than task.disconnect_grace_seconds ({grace:g} s); wait at most that long or raise it",
                key="blueprint.on_partner_disconnect",
            )
        limit, seats = self.task.max_num_concurrent_units, self.task.units_per_assignment
        if 0 < limit < seats:
            # Fewer units offered at once than an assignment's seats: no waiting room could ever fill.
            raise ConfigError(
                f"is {limit}, fewer than units_per_assignment ({seats}): a live conversation needs all its workers "
                "at once; use 0 (no limit) or at least units_per_assignment",
                key="task.max_num_concurrent_units",
            )
        load_world_module(self._path(self.args.world))
        for _ in self.iter_assignments():
            pass

    def iter_assignments(self) -> Iterator[dict[str, Any]]:
        if self.args.data_jsonl is None:
            for _ in range(self.args.num_assignments):
                yield {}
            return
        path, key = self._path(self.args.data_jsonl), "blueprint.data_jsonl"
        if not path.is_file():
            raise ConfigError(f"the data file {path} does not exist", key=key)
        empty = True
        for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = loads_json(line, path, key=key, first_line=number)
            except ValueError as exc:
                raise ConfigError(f"line {number} is not JSON: {exc}", file=path, key=key, line=number) from exc
            if not isinstance(value, dict):
                raise ConfigError(f"line {number} must be a JSON object", file=path, key=key, line=number)
            empty = False
            yield value
        if empty:
            raise ConfigError("the data file has no lines; every line becomes one assignment", file=path, key=key)

    def build(self, build_dir: Path) -> None:
        build_dir.mkdir(parents=True, exist_ok=True)
        assets = files("mephisto_blueprint_live") / "assets"
        for name in ASSETS:
            (build_dir / name).write_bytes((assets / name).read_bytes())

    def _page_data(self) -> dict[str, Any]:
        description = self.args.task_description or self.task.description
        return {"title": self.task.title, "description": description, "agents": self.task.units_per_assignment}

    def init_data(self, inputs: dict[str, Any], unit_index: int) -> dict[str, Any]:
        return {**self._page_data(), "task_data": inputs, "seat": unit_index}

    def preview_data(self) -> dict[str, Any]:
        return self._page_data()

    def has_onboarding(self) -> bool:
        # A world module with `async def onboarding(agent)`: a worker talks with it alone before a first unit.
        # Asked on every hello: the module is imported once per blueprint, not on each call.
        if self._has_onboarding is None:
            self._has_onboarding = hasattr(load_world_module(self._path(self.args.world)), "onboarding")
        return self._has_onboarding

    def onboarding_data(self) -> dict[str, Any]:
        return {**self._page_data(), "onboarding": True}

    def validate_onboarding(self, outputs: dict[str, Any]) -> bool:
        # The onboarding world's verdict, submitted by the server (onboarding.py), never by the page.
        return outputs.get("passed") is True

    def review_html(
        self, inputs: dict[str, Any], outputs: dict[str, Any], file_urls: dict[str, list[str]]
    ) -> str | None:
        return chat_review_html(outputs)

    def simulate_answer(self, init_data: dict[str, Any], rng: random.Random) -> SimulatedAnswer:
        # A simulated worker of a live task chats over `live` messages instead of submitting; this is what it says.
        return SimulatedAnswer({"text": f"simulated message {rng.randint(1, 10_000)}"}, live=True)

    def live_session(self, pages: LivePages) -> LiveSession | None:
        from mephisto_blueprint_live.session import LiveRuntime

        module = load_world_module(self._path(self.args.world))
        runtime = LiveRuntime(self.args, module.run, self.task.units_per_assignment, pages)
        runtime.onboarding_world = getattr(module, "onboarding", None)
        return runtime
