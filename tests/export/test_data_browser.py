"""The data browser on SQLite and PostgreSQL: filters, id order in batches, attached reviews and files, errors."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from export_helpers import ExportRows

from mephisto_core.data_model import Database
from mephisto_core.errors import MephistoError, NotFound
from mephisto_core.operations.data_browser import DataBrowser

EXPORT_KEYS = [
    "task",
    "task_run_id",
    "assignment_id",
    "unit_id",
    "unit_index",
    "worker_id",
    "agent_id",
    "status",
    "inputs",
    "outputs",
    "files",
    "started_at",
    "submitted_at",
    "duration_s",
    "review",
    "procedure_calls",
    "review_status",
    "review_feedback",
    "bonus_total",
    "reviewed_at",
]


def _two_tasks(rows: ExportRows) -> dict[str, Any]:
    """Task `labels` (two runs) and task `other`, with units in several statuses, workers and times."""
    labels = rows.task("labels")
    run1, run2 = rows.run(labels), rows.run(labels)
    a1 = rows.assignment(run1, text="first")
    a2 = rows.assignment(run2, text="second")
    units = {
        "alice_a1": rows.submitted(a1, 0, "alice", {"label": "cat"}, minute=0),
        "bob_a1": rows.submitted(a1, 1, "bob", {"label": "dog"}, status="accepted", minute=60 * 24),
        "alice_a2": rows.submitted(a2, 0, "alice", {"label": "cat"}, status="rejected", minute=60 * 48),
        "open_a2": rows.open_unit(a2, 1),
    }
    other_run = rows.run(rows.task("other"))
    units["carol_other"] = rows.submitted(rows.assignment(other_run, text="x"), 0, "carol", {"label": "x"})
    return {"run1": run1, "run2": run2, "units": units}


def _ids(records: Any) -> list[int]:
    return [r.unit_id for r in records]


def test_units_default_to_submitted_units_in_id_order(database: Database, rows: ExportRows) -> None:
    made = _two_tasks(rows)
    u = made["units"]
    browser = DataBrowser(database)
    expected = [u["alice_a1"].id, u["bob_a1"].id, u["alice_a2"].id, u["carol_other"].id]
    assert _ids(browser.units()) == expected
    assert browser.count() == 4
    assert _ids(browser.units(include_unsubmitted=True)) == sorted([*expected, u["open_a2"].id])


def test_filters_by_task_run_status_and_worker(database: Database, rows: ExportRows) -> None:
    made = _two_tasks(rows)
    u = made["units"]
    browser = DataBrowser(database)
    assert _ids(browser.units(task="labels")) == [u["alice_a1"].id, u["bob_a1"].id, u["alice_a2"].id]
    assert _ids(browser.units(run_id=made["run2"].id)) == [u["alice_a2"].id]
    assert _ids(browser.units(run_id=made["run2"].id, statuses=["launched"])) == [u["open_a2"].id]
    assert _ids(browser.units(statuses=["accepted", "rejected"])) == [u["bob_a1"].id, u["alice_a2"].id]
    assert _ids(browser.units(worker="alice")) == [u["alice_a1"].id, u["alice_a2"].id]
    assert _ids(browser.units(task="labels", worker="carol")) == []
    assert browser.count(task="labels", worker="alice", statuses=["completed"]) == 1


def test_since_and_until_bound_the_submission_time(database: Database, rows: ExportRows) -> None:
    u = _two_tasks(rows)["units"]  # submitted on May 1 (two units), May 2 and May 3, 2024
    browser = DataBrowser(database)
    assert _ids(browser.units(task="labels", since="2024-05-02")) == [u["bob_a1"].id, u["alice_a2"].id]
    # A date-only `until` includes that whole day.
    assert _ids(browser.units(task="labels", until="2024-05-02")) == [u["alice_a1"].id, u["bob_a1"].id]
    assert _ids(browser.units(since="2024-05-02T12:00:00Z", until="2024-05-02T12:00:01")) == [u["bob_a1"].id]
    # An offset is converted to UTC: 14:00 at +02:00 is 12:00 UTC.
    assert _ids(browser.units(since="2024-05-03T14:00:00+02:00")) == [u["alice_a2"].id]


def test_record_carries_inputs_outputs_timing_reviews_and_files(database: Database, rows: ExportRows) -> None:
    run = rows.run(rows.task("labels"))
    unit = rows.submitted(rows.assignment(run, text="hello"), 0, "alice", {"label": "cat"}, duration_s=42)
    rows.review(unit, "approve", feedback="good")
    rows.review(unit, "bonus", amount="0.25", feedback="extra")
    rows.file(unit, "photo", "cat.png", b"\x89PNG...")

    (record,) = DataBrowser(database).units()
    assert (record.worker_id, record.worker_db_id, record.agent_id) == ("alice", unit.worker_id, unit.agent_id)
    assert record.inputs == {"text": "hello"} and record.outputs == {"label": "cat"}
    assert record.duration_s == 42.0
    assert record.submitted_at is not None and record.submitted_at.isoformat() == "2024-05-01T12:00:00+00:00"
    assert [(r["kind"], r["amount"], r["feedback"], r["reviewer"]) for r in record.review] == [
        ("approve", None, "good", "tester"),
        ("bonus", 0.25, "extra", "tester"),
    ]
    (stored,) = record.files
    assert {k: stored[k] for k in ("field", "name", "size", "type")} == {
        "field": "photo",
        "name": "cat.png",
        "size": 7,
        "type": "image/png",
    }
    assert stored["path"].startswith("files/uploads/") and len(stored["sha256"]) == 64

    exported = record.to_dict()
    assert list(exported) == EXPORT_KEYS
    assert exported["started_at"] == "2024-05-01T11:59:18+00:00"
    assert exported["task"] == "labels" and exported["task_run_id"] == run.id


def test_units_are_read_in_batches_not_one_query_per_unit(
    database: Database, rows: ExportRows, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = rows.run(rows.task("labels"))
    made = []
    for n in range(7):
        unit = rows.submitted(rows.assignment(run, n=n), 0, f"w{n}", {"label": "x"})
        rows.review(unit, "approve")
        rows.file(unit, "doc", f"{n}.txt", b"%d" % n)
        made.append(unit.id)
    statements: list[str] = []
    real_execute = database.db.execute_sql

    def counting(sql: str, *args: Any, **kwargs: Any) -> Any:
        statements.append(sql)
        return real_execute(sql, *args, **kwargs)

    monkeypatch.setattr(database.db, "execute_sql", counting)
    records = list(DataBrowser(database, batch_size=3).units(task="labels"))
    assert _ids(records) == made
    assert all(len(r.review) == 1 and len(r.files) == 1 for r in records)
    # Three batches (3 + 3 + 1 units), each one unit query, one review query, one file query and one
    # procedure-call query; plus the task lookup and the id-bounds query. Never a query per unit.
    unit_queries = [s for s in statements if 'FROM "unit"' in s and 'ORDER BY "t1"."id" LIMIT' in s]
    assert len(unit_queries) == 3
    assert len(statements) == 3 * 4 + 2


def test_unknown_names_and_bad_values_are_clear_errors(database: Database, rows: ExportRows) -> None:
    _two_tasks(rows)
    browser = DataBrowser(database)
    with pytest.raises(NotFound, match=r"task 'lables': there is no task with that name \(known tasks: 'labels'"):
        browser.count(task="lables")
    with pytest.raises(MephistoError, match=r"since 'last week' is not an ISO date"):
        list(browser.units(since="last week"))
    with pytest.raises(MephistoError, match=r"until '2024-13-01' is not an ISO date"):
        browser.count(until="2024-13-01")
    with pytest.raises(NotFound, match=r"worker 'mallory'"):
        browser.count(worker="mallory")
    with pytest.raises(MephistoError, match=r"status 'done' is not a unit status; valid: created"):
        browser.count(statuses=["done"])
    with pytest.raises(NotFound, match=r"run 999"):
        browser.count(run_id=999)
    with pytest.raises(MephistoError, match=r"is a run of another task"):
        other_run = browser.runs("other")[0].run_id
        browser.count(task="labels", run_id=other_run)


def test_tasks_runs_unit_and_worker_stats(database: Database, rows: ExportRows) -> None:
    made = _two_tasks(rows)
    u = made["units"]
    browser = DataBrowser(database)
    tasks = {t.name: t for t in browser.tasks()}
    assert tasks["labels"].runs == 2 and tasks["labels"].submitted == 3
    assert tasks["labels"].unit_counts == {"completed": 1, "accepted": 1, "rejected": 1, "launched": 1}
    (only,) = browser.tasks("labels")  # one task's summary: the same, without counting the others
    assert only == tasks["labels"]
    assert [t.unit_counts for t in browser.tasks("other")] == [{"completed": 1}]
    with pytest.raises(NotFound, match="no task with that name"):
        browser.tasks("nope")
    runs = browser.runs("labels")
    assert [r.run_id for r in runs] == [made["run1"].id, made["run2"].id]
    assert runs[1].unit_counts == {"rejected": 1, "launched": 1}
    assert browser.unit(u["open_a2"].id).status == "launched"
    with pytest.raises(NotFound):
        browser.unit(10_000)

    alice = browser.worker_stats(u["alice_a1"].worker_id)
    assert (alice.worker_id, alice.units_done, alice.accepted, alice.rejected, alice.awaiting_review) == (
        "alice",
        2,
        0,
        1,
        1,
    )
    assert alice.approval_rate == 0.0
    assert browser.worker_stats(u["bob_a1"].worker_id).approval_rate == 1.0
    assert browser.worker_stats(u["carol_other"].worker_id).approval_rate is None  # nothing reviewed yet


def test_a_page_skips_by_id_and_matches_the_same_slice_of_units(
    database: Database, rows: ExportRows, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = rows.run(rows.task("labels"))
    made = [rows.submitted(rows.assignment(run, n=n), 0, f"w{n % 3}", {"label": "x"}).id for n in range(9)]
    browser = DataBrowser(database, batch_size=2)
    assert _ids(browser.page(0, 4, task="labels")) == made[:4]
    assert _ids(browser.page(4, 4, task="labels")) == made[4:8]
    assert _ids(browser.page(8, 4, task="labels")) == made[8:]
    assert browser.page(9, 4, task="labels") == []
    assert _ids(browser.page(1, 2, worker="w1")) == [made[4], made[7]]

    statements: list[str] = []
    real_execute = database.db.execute_sql

    def counting(sql: str, *args: Any, **kwargs: Any) -> Any:
        statements.append(sql)
        return real_execute(sql, *args, **kwargs)

    monkeypatch.setattr(database.db, "execute_sql", counting)
    assert _ids(browser.page(6, 2, task="labels")) == made[6:8]
    # The skipped units are never loaded: one query finds where the page starts, then one batch is read.
    assert sum('FROM "unit"' in s and "ORDER BY" in s and "LIMIT" in s for s in statements) == 2
    with pytest.raises(ValueError, match="offset must be >= 0"):
        browser.page(-1, 5)


def test_answers_are_the_units_who_and_what_in_id_order(database: Database, rows: ExportRows) -> None:
    _two_tasks(rows)
    run = rows.run(rows.task("many"))
    for n in range(25):  # across batches: 10 answer rows per query at batch_size 1
        rows.submitted(rows.assignment(run, n=n), n % 2, f"w{n % 4}", {"label": n % 3, "note": None})
    browser = DataBrowser(database, batch_size=1)
    queries: list[dict[str, Any]] = [
        {},
        {"task": "labels"},
        {"task": "many"},
        {"worker": "alice"},
        {"statuses": ["accepted", "rejected"]},
        {"include_unsubmitted": True},
    ]
    for query in queries:
        expected = [
            (r.unit_id, r.assignment_id, r.unit_index, r.worker_db_id, r.outputs) for r in browser.units(**query)
        ]
        assert [tuple(answer) for answer in browser.answers(**query)] == expected, query
    assert len(list(browser.answers(task="many"))) == 25


def test_a_page_reads_no_more_units_than_it_shows(
    database: Database, rows: ExportRows, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = rows.run(rows.task("labels"))
    made = [rows.submitted(rows.assignment(run, n=n), 0, "w", {"label": "x"}).id for n in range(9)]
    browser = DataBrowser(database)  # batches of 1,000: a page of 3 used to read every unit after its start
    batches: list[int] = []
    real_raw = browser._raw

    def raw(query: Any) -> list[tuple[Any, ...]]:
        found = real_raw(query)
        if '"inputs"' in query.sql()[0]:  # the batch of records, not the counts, reviews or files
            batches.append(len(found))
        return found

    monkeypatch.setattr(browser, "_raw", raw)
    assert _ids(browser.page(2, 3, task="labels")) == made[2:5]
    assert batches == [3]


@pytest.mark.parametrize("every", [1, 3, 250])
def test_batches_read_bounded_windows_of_ids_and_miss_none(every: int) -> None:
    # Each batch query is bounded above as well as by its LIMIT: with a lower bound alone, PostgreSQL (expecting a
    # handful of matches from the unindexable filters) read and sorted every unit after it, for every batch.
    from mephisto_core.operations.data_browser import _in_id_windows

    matching = [unit_id for unit_id in range(1, 2001) if unit_id % every == 0]
    spans: list[int] = []

    def read(after: int, upto: int, size: int) -> list[int]:
        spans.append(upto - after)
        return [unit_id for unit_id in matching if after < unit_id <= upto][:size]

    assert list(_in_id_windows(read, 0, 2000, 10, lambda unit_id: unit_id)) == matching
    if every == 1:  # dense: every window within a few batches' width
        assert max(spans) <= 20, spans
    else:  # sparse: the window grows, so the number of queries stays near the number of batches
        assert len(spans) <= len(matching) // 10 + 12, spans


def test_one_unit_reads_only_the_lists_it_has_and_matches_the_batch_record(
    database: Database, rows: ExportRows, caplog: pytest.LogCaptureFixture
) -> None:
    # A unit on the review app's screen asks its row which of reviews, files and procedure calls it has: each list
    # read is a round trip to a database on another machine.
    run = rows.run(rows.task("labels"))
    plain = rows.submitted(rows.assignment(run, text="plain"), 0, "alice", {"label": "cat"})
    rich = rows.submitted(rows.assignment(run, text="rich"), 0, "bob", {"label": "dog"})
    rows.review(rich, "approve", feedback="good")
    rows.file(rich, "photo", "dog.png", b"\x89PNG...")
    browser = DataBrowser(database)
    batch = {record.unit_id: record.to_dict() for record in browser.units()}

    with caplog.at_level(logging.DEBUG, logger="peewee"):
        for unit, lists in ((plain, 0), (rich, 2)):
            caplog.clear()
            assert browser.unit(unit.id).to_dict() == batch[unit.id]
            sent = [r for r in caplog.records if r.name == "peewee"]
            assert len(sent) == 1 + lists, [r.getMessage() for r in sent]
    assert batch[rich.id]["review"] and batch[rich.id]["files"] and not batch[plain.id]["review"]
