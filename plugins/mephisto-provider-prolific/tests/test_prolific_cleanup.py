"""The leftover cleaner (what `mephisto cleanup` asks) and the study's pause when no place is wanted."""

from __future__ import annotations

from pathlib import Path

import pytest
from mephisto_provider_prolific.cleanup import ProlificStudiesCleaner
from mephisto_provider_prolific.testing import FakeProlific
from prolific_provider_helpers import WORKER_URL, fake, keys_for, make_provider, make_run

from mephisto_core.abstractions import CleanupScope
from mephisto_core.data_model import Database
from mephisto_core.errors import MephistoError

__all__ = ["fake"]


def scope(database: Database, data_dir: Path, live: set[int]) -> CleanupScope:
    return CleanupScope(database, data_dir, data_dir / "runs", None, lambda run_id: run_id in live)


def test_the_cleaner_leaves_a_live_run_alone_and_stops_a_dead_one(
    fake: FakeProlific, mephisto_rows_database: Database, mephisto_settings: object
) -> None:
    from mephisto_core.settings import store_requester_credentials

    data_dir = Path(mephisto_settings.data_dir)  # type: ignore[attr-defined]
    config_file = mephisto_settings.config_file  # type: ignore[attr-defined]
    store_requester_credentials(config_file, "prolific", "prolific", {"api_key": fake.api_key})
    requirement = {"name": "trained", "comparator": "exists"}
    run, units = make_run(mephisto_rows_database, 2, qualifications=[requirement])
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, WORKER_URL)
    provider.publish_units(units, WORKER_URL, keys_for(units))
    cleaner = ProlificStudiesCleaner()

    assert cleaner.find(scope(mephisto_rows_database, data_dir, live={run.id})) == []
    [leftover] = cleaner.find(scope(mephisto_rows_database, data_dir, live=set()))
    assert leftover.run_id == run.id and "study" in leftover.what and "participant group" in leftover.what
    with pytest.raises(MephistoError, match="served by a running launch again"):
        cleaner.remove(scope(mephisto_rows_database, data_dir, live={run.id}), leftover)

    said = cleaner.remove(scope(mephisto_rows_database, data_dir, live=set()), leftover)
    assert "stopped study" in said and "deleted participant group" in said
    assert fake.studies()[0]["status"] in ("AWAITING REVIEW", "COMPLETED")
    assert [g["name"] for g in fake.participant_groups()] == [
        "Mephisto block list",
        "Mephisto block list: label-things",
    ]
    assert cleaner.find(scope(mephisto_rows_database, data_dir, live=set())) == []


def test_a_study_with_no_place_wanted_pauses_and_starts_again(
    fake: FakeProlific, mephisto_rows_database: Database, mephisto_settings: object
) -> None:
    run, units = make_run(mephisto_rows_database, 2)
    provider = make_provider(fake, Path(mephisto_settings.data_dir))  # type: ignore[attr-defined]
    provider.setup_resources(run, WORKER_URL)
    provider.publish_units(units, WORKER_URL, keys_for(units))
    provider.expire_units(units)
    study = fake.studies()[0]
    assert study["status"] == "PAUSED" and study["total_available_places"] == 1  # Prolific's minimum, closed
    provider.publish_units(units[:1], WORKER_URL, keys_for(units[:1]))
    assert fake.studies()[0]["status"] == "ACTIVE"
