"""`UnitQuery` is the one value that carries the seven unit filters: the data browser, `mephisto export` and the
review app all take it, and none of them spells the filters out again."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from export_helpers import ExportRows

from mephisto_core.data_model import Database, Unit
from mephisto_core.errors import MephistoError
from mephisto_core.operations.data_browser import DataBrowser
from mephisto_core.operations.unit_filters import UnitQuery, resolve_filters
from mephisto_core.review_app import reads
from mephisto_core.review_app.app import ReviewApp
from mephisto_core.settings import Settings

FILTERS = {"task", "run_id", "statuses", "worker", "since", "until", "include_unsubmitted"}


def test_the_seven_filters_are_fields_of_unit_query_and_parameters_nowhere_else() -> None:
    assert {f.name for f in dataclasses.fields(UnitQuery)} == FILTERS
    readers = [DataBrowser.units, DataBrowser.page, DataBrowser.count, resolve_filters, reads.unit_filters]
    for reader in readers:
        spelled = FILTERS & set(inspect.signature(reader).parameters)
        assert spelled == set(), f"{reader.__qualname__} spells out {sorted(spelled)} again"


def test_a_query_is_an_immutable_hashable_value() -> None:
    query = UnitQuery(task="labels", statuses=["accepted", "rejected"])  # type: ignore[arg-type]  # a list, as scripts pass
    assert query.statuses == ("accepted", "rejected")
    assert hash(query) == hash(UnitQuery(task="labels", statuses=("accepted", "rejected")))
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.task = "other"  # type: ignore[misc]


def _units(rows: ExportRows) -> dict[str, Unit]:
    run = rows.run(rows.task("labels"))
    other = rows.run(rows.task("other"))
    first, second = rows.assignment(run, text="one"), rows.assignment(run, text="two")
    return {
        "alice": rows.submitted(first, 0, "alice", {"label": "cat"}),
        "bob": rows.submitted(first, 1, "bob", {"label": "dog"}, status="accepted", minute=60 * 24),
        "late": rows.submitted(second, 0, "alice", {"label": "cat"}, status="accepted", minute=60 * 48),
        "elsewhere": rows.submitted(rows.assignment(other, text="x"), 0, "bob", {"label": "cow"}),
        "open": rows.open_unit(second, 1),
    }


def test_browser_export_and_review_app_read_the_same_units_for_one_query(
    rows: ExportRows, database: Database, mephisto_settings: Settings
) -> None:
    units = _units(rows)
    browser = DataBrowser(database)
    query = UnitQuery(task="labels", statuses=("accepted",))
    expected = [units["bob"].id, units["late"].id]
    assert [r.unit_id for r in browser.units(query)] == expected
    assert [r.unit_id for r in browser.units(task="labels", statuses=["accepted"])] == expected  # keyword form
    assert browser.count(query) == 2
    assert [r.unit_id for r in browser.iter_filtered(query.resolve())] == expected  # what the exporter reads
    # A page takes the whole query now, dates included (it used to drop since/until).
    since = UnitQuery(task="labels", since="2024-05-02")
    assert [r.unit_id for r in browser.page(0, 10, since)] == expected
    assert [r.unit_id for r in browser.page(1, 10, since)] == expected[1:]
    app = ReviewApp(mephisto_settings, database)
    task_id = units["bob"].task_id
    worker_db_id = units["bob"].worker_id
    from_params = reads.unit_filters(
        {"task": str(task_id), "worker": str(worker_db_id), "status": "accepted,completed"}
    )
    assert from_params == UnitQuery(task="labels", worker="bob", statuses=("accepted", "completed")).resolve()
    page = reads.unit_page(app, {"task": str(task_id), "status": "accepted"})
    assert page["total"] == 2 and [u["unit_id"] for u in page["units"]] == expected
    all_of_task = [r.unit_id for r in browser.units(UnitQuery(task="labels", include_unsubmitted=True))]
    assert all_of_task == [units["alice"].id, units["bob"].id, units["late"].id, units["open"].id]


def test_bad_filters_and_mixed_forms_are_refused(rows: ExportRows, database: Database) -> None:
    _units(rows)
    browser = DataBrowser(database)
    with pytest.raises(TypeError, match="not both"):
        browser.units(UnitQuery(task="labels"), worker="bob")
    with pytest.raises(MephistoError, match="task 'lables'"):
        browser.count(UnitQuery(task="lables"))
    with pytest.raises(MephistoError, match="is a run of another task"):
        UnitQuery(task="other", run_id=int(rows.run(rows.task("third")).id)).resolve()
