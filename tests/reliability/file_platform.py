"""A test crowd platform whose whole state is one JSON-lines file, and a provider that speaks to it.

`file_platform` publishes a unit by appending `{"op": "publish", "key", "unit_id", "hit"}` to
`<provider data dir>/platform.jsonl`, and withdraws by appending `{"op": "withdraw", "hit"}`; `find_published`
and `reconcile_units` read the file back. A test edits the file to play the platform's side (a submission
made there, a worker who returned the unit), and drops a marker file `kill-<step>` in the same folder to make
the operator kill itself with SIGKILL at that step (`before-publish`, `after-publish`, `on-identify`), which is
how the crash tests cut a real process between a platform call and its commit.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from mephisto_core.abstractions import CrowdProvider, DriftKind, UnitDrift, WorkerIdentity
from mephisto_core.data_model import TaskRun, Unit
from mephisto_core.hookspecs import hookimpl

PLATFORM_FILE = "platform.jsonl"


def platform_file(data_dir: Path) -> Path:
    """The platform's state file under a process's MEPHISTO_DATA_DIR."""
    return FilePlatformProvider.data_dir_under(data_dir) / PLATFORM_FILE


def read_platform(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def live_hits(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Published and not withdrawn, by hit id, with the last state a test wrote for it."""
    hits: dict[str, dict[str, Any]] = {}
    for record in records:
        if record["op"] == "publish":
            hits[record["hit"]] = dict(record)
        elif record["op"] == "withdraw":
            hits.pop(record["hit"], None)
        elif record["op"] in ("submitted", "returned") and record["hit"] in hits:
            hits[record["hit"]].update(state=record["op"], **{k: v for k, v in record.items() if k != "op"})
    return hits


class FilePlatformProvider(CrowdProvider):
    """Publishes to, and reconciles against, the platform file; workers are `?worker_id=NAME`."""

    type_name: ClassVar[str] = "file_platform"
    default_requester_name: ClassVar[str | None] = "FILE_PLATFORM_REQUESTER"
    identifies_workers_locally: ClassVar[bool] = True
    idempotent_calls: ClassVar[frozenset[str]] = CrowdProvider.idempotent_calls | {"publish_units"}

    @property
    def _file(self) -> Path:
        return self.data_dir / PLATFORM_FILE

    def _append(self, record: dict[str, Any]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self._file.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _maybe_die(self, step: str) -> None:
        marker = self.data_dir / f"kill-{step}"
        if marker.exists():
            marker.unlink()
            os.kill(os.getpid(), signal.SIGKILL)

    def identify_worker(self, params: Mapping[str, str]) -> WorkerIdentity:
        self._maybe_die("on-identify")
        return WorkerIdentity(params.get("worker_id"))

    def simulated_worker_params(self, worker_name: str) -> dict[str, str]:
        return {"worker_id": worker_name}  # without asking identify_worker (its kill step is a real hello's)

    def publish_units(
        self, units: Sequence[Unit], worker_url: str, idempotency_keys: Mapping[int, str]
    ) -> dict[int, str | None]:
        self._maybe_die("before-publish")
        known = {r["key"]: r["hit"] for r in read_platform(self._file) if r["op"] == "publish"}
        result: dict[int, str | None] = {}
        for unit in units:
            key = idempotency_keys[unit.id]
            if key not in known:  # the platform honours the key: a second request publishes nothing
                known[key] = f"hit-{unit.id}-{key[-6:]}"
                self._append({"op": "publish", "key": key, "unit_id": unit.id, "hit": known[key]})
            result[unit.id] = known[key]
        self._maybe_die("after-publish")
        return result

    def find_published(self, idempotency_key: str) -> str | None:
        for record in read_platform(self._file):
            if record["op"] == "publish" and record["key"] == idempotency_key:
                return str(record["hit"])
        return None

    def expire_units(self, units: Sequence[Unit]) -> None:
        for unit in units:
            if unit.provider_unit_id is not None:
                self._append({"op": "withdraw", "hit": unit.provider_unit_id})

    def reconcile_units(self, run: TaskRun, units: Sequence[Unit]) -> list[UnitDrift]:
        hits = live_hits(read_platform(self._file))
        by_hit = {u.provider_unit_id: u for u in units if u.provider_unit_id is not None}
        offered_here = {"launched", "assigned"}
        drifts: list[UnitDrift] = []
        for hit, record in hits.items():
            unit = by_hit.get(hit)
            state = record.get("state")
            if state == "submitted" and unit is not None:  # a unit done here already is not open
                drifts.append(
                    UnitDrift(
                        DriftKind.SUBMITTED_THERE,
                        record["unit_id"],
                        hit,
                        worker_name=record.get("worker"),
                        outputs=record.get("outputs"),
                    )
                )
            elif state == "returned" and unit is not None and unit.status == "assigned":
                drifts.append(UnitDrift(DriftKind.ABANDONED_THERE, unit.id, hit))
            elif unit is None or unit.status not in offered_here:
                drifts.append(UnitDrift(DriftKind.UNKNOWN_HERE, unit.id if unit else None, hit))
        return drifts


class FilePlatformPlugin:
    """Registers `file_platform`, as an installed plugin would."""

    @hookimpl
    def mephisto_register_providers(self, register: Any) -> None:
        register(FilePlatformProvider)
