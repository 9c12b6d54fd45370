"""What the review app shows: tasks, filtered pages of units, one unit rendered by its blueprint, workers."""

from __future__ import annotations

from review_helpers import task_units

from mephisto_core.data_model import Agent, Task, TaskRun, Unit, Worker
from mephisto_core.review_app import ReviewApp
from mephisto_core.settings import Settings


def test_tasks_list_each_task_with_its_counts_and_runs(client) -> None:
    tasks = {t["name"]: t for t in client.get("/api/tasks").json["tasks"]}
    assert set(tasks) == {"study", "notes"}
    study = tasks["study"]
    assert study["unit_counts"] == {"completed": 8}
    assert (study["submitted"], study["awaiting_review"], study["blueprint_type"]) == (8, 8, "static")
    (run,) = study["runs"]
    assert (run["provider_type"], run["is_completed"]) == ("mock", True)


def test_task_detail_names_its_workers_and_whether_agreement_applies(client) -> None:
    study_id = Task.get(Task.name == "study").id
    notes_id = Task.get(Task.name == "notes").id
    study = client.get(f"/api/tasks/{study_id}").json
    assert study["has_agreement"] is True  # two units per assignment
    assert sorted(w["name"] for w in study["workers"]) == ["sim-0", "sim-1", "sim-2"]
    assert sum(w["units"] for w in study["workers"]) == 8
    assert client.get(f"/api/tasks/{notes_id}").json["has_agreement"] is False


def test_agreement_is_computed_per_field_for_shared_assignments(client) -> None:
    study_id = Task.get(Task.name == "study").id
    body = client.get(f"/api/tasks/{study_id}/agreement").json
    fields = body["fields"]
    # Both units of an assignment show the same topic (the page's hidden input), so they always agree on it.
    assert fields["topic"]["percent"] == 100.0
    assert fields["topic"]["assignments"] == 4
    assert {"frequency", "answer"} <= set(fields)
    notes = client.get(f"/api/tasks/{Task.get(Task.name == 'notes').id}/agreement").json
    assert notes["fields"] == {} and "no assignment" in notes["note"]


def test_the_ids_of_every_unit_that_matches_the_filters(client) -> None:
    study = task_units("study")
    task_id = study[0].task_id
    client.post(f"/api/units/{study[0].id}/approve")
    awaiting = client.get(f"/api/units/ids?task={task_id}&status=completed").json
    assert awaiting == {"total": 7, "unit_ids": [u.id for u in study[1:]]}
    worker = study[1].worker_id
    mine = client.get(f"/api/units/ids?task={task_id}&worker={worker}").json["unit_ids"]
    assert mine == [u.id for u in study if u.worker_id == worker]
    # The same filters and checks as the list's: paging makes no sense here and is refused.
    assert client.get(f"/api/units/ids?task={task_id}&limit=5").status == 400
    assert client.get("/api/units/ids?task=999999").status == 404
    assert client.post("/api/units/ids", {}).status == 405


def test_units_are_filtered_by_status_worker_and_run_and_paged(client) -> None:
    study = task_units("study")
    task_id = study[0].task_id
    page = client.get(f"/api/units?task={task_id}&limit=3").json
    assert (page["total"], page["offset"], page["limit"]) == (8, 0, 3)
    assert [u["unit_id"] for u in page["units"]] == [u.id for u in study[:3]]
    rest = client.get(f"/api/units?task={task_id}&offset=3&limit=50").json
    assert [u["unit_id"] for u in rest["units"]] == [u.id for u in study[3:]]

    client.post(f"/api/units/{study[0].id}/approve")
    client.post(f"/api/units/{study[1].id}/reject", {"feedback": "no"})
    awaiting = client.get(f"/api/units?task={task_id}&status=completed").json
    assert awaiting["total"] == 6
    done = client.get(f"/api/units?task={task_id}&status=accepted,rejected").json
    assert [(u["unit_id"], u["status"], u["last_review"]) for u in done["units"]] == [
        (study[0].id, "accepted", "approve"),
        (study[1].id, "rejected", "reject"),
    ]

    worker = study[0].worker_id
    mine = client.get(f"/api/units?task={task_id}&worker={worker}").json
    assert {u["worker_db_id"] for u in mine["units"]} == {worker}
    assert mine["total"] == sum(1 for u in study if u.worker_id == worker)

    run_id = study[0].task_run_id
    assert client.get(f"/api/units?run={run_id}").json["total"] == 8
    everything = client.get("/api/units?limit=500").json
    assert everything["total"] == 11  # both tasks


def test_a_static_unit_shows_inputs_outputs_files_time_and_worker_history(client) -> None:
    unit = task_units("study")[0]
    body = client.get(f"/api/units/{unit.id}").json
    shown = body["unit"]
    assert shown["inputs"]["topic"] == shown["outputs"]["topic"]
    assert set(shown["outputs"]) >= {"frequency", "answer"}
    assert shown["duration_s"] is not None and shown["duration_s"] >= 0
    assert shown["submitted_at"].endswith("+00:00")
    (photo,) = shown["files"]
    assert photo["field"] == "photo" and photo["type"] == "image/png"
    assert photo["url"] == f"/api/units/{unit.id}/files/0?token={client.token}"
    assert body["render"] == {"html": None, "note": None}  # the static blueprint has no review HTML: tables
    worker = body["worker"]
    assert worker["name"] == Worker.get_by_id(unit.worker_id).name
    assert (worker["blocked"], worker["approval_rate"], worker["awaiting_review"]) == (False, None, worker["submitted"])


def test_the_worker_history_follows_review_actions(client) -> None:
    units = [u for u in task_units("study") if u.worker_id == task_units("study")[0].worker_id]
    worker_id = units[0].worker_id
    client.post(f"/api/units/{units[0].id}/approve")
    client.post(f"/api/units/{units[1].id}/reject", {"feedback": "no"})
    client.post(f"/api/workers/{worker_id}/block", {"reason": "careless"})
    worker = client.get(f"/api/workers/{worker_id}").json
    assert (worker["approved"], worker["rejected"], worker["approval_rate"], worker["blocked"]) == (1, 1, 0.5, True)
    # Newest first; the block's platform outcome is part of the history.
    assert [r["kind"] for r in worker["reviews"]] == ["platform", "block", "reject", "approve"]
    assert worker["reviews"][0]["when"].endswith("+00:00")
    assert {"name": "mephisto-blocked", "value": 1} in [
        {"name": q["name"], "value": q["value"]} for q in worker["qualifications"]
    ]


def test_a_blueprint_with_review_html_renders_the_unit_with_links_to_its_files(client) -> None:
    unit = next(u for u in task_units("notes") if u.assignment.inputs["n"] == 0)
    body = client.get(f"/api/units/{unit.id}").json
    url = f"/api/units/{unit.id}/files/0?token={client.token}"
    # The blueprint escaped the worker's answer itself; the app passes the fragment through untouched.
    expected = (
        f'<div class="note-review">Note: &lt;b&gt;note 0&lt;/b&gt; <a class="doc" href="{url}">document</a></div>'
    )
    assert body["render"] == {"html": expected, "note": None}
    download = client.get(url, token=None)
    assert download.status == 200 and download.body == b"note 0"


def test_a_blueprint_that_fails_to_render_falls_back_to_tables_and_says_why(client) -> None:
    unit = next(u for u in task_units("notes") if u.assignment.inputs["n"] == 2)
    body = client.get(f"/api/units/{unit.id}").json
    assert body["render"]["html"] is None
    assert "could not render this unit (this fragment is broken on purpose)" in body["render"]["note"]
    assert body["unit"]["outputs"] == {"note": "<b>note 2</b>"}


def test_a_run_whose_blueprint_is_not_installed_is_shown_as_tables(client) -> None:
    run = TaskRun.get(TaskRun.blueprint_type == "review_note_test")
    TaskRun.update(blueprint_type="uninstalled_kind").where(TaskRun.id == run.id).execute()
    unit = task_units("notes")[0]
    body = client.get(f"/api/units/{unit.id}").json
    assert body["render"]["html"] is None
    assert "unknown blueprint type 'uninstalled_kind'" in body["render"]["note"]


def test_the_session_names_the_task_given_with_task(review_db, mephisto_settings: Settings) -> None:
    from mephisto_core.review_app.reads import session_info

    app = ReviewApp(mephisto_settings, review_db, task="notes")
    assert session_info(app)["default_task_id"] == Task.get(Task.name == "notes").id
    assert session_info(ReviewApp(mephisto_settings, review_db))["default_task_id"] is None


def test_a_unit_page_shows_only_the_workers_latest_reviews_but_counts_all(client, monkeypatch) -> None:
    from mephisto_core.review_app import reads

    monkeypatch.setattr(reads, "RECENT_REVIEWS", 2)
    unit = task_units("study")[0]
    for n in range(3):
        client.post(f"/api/units/{unit.id}/bonus", {"amount": "0.10", "reason": f"bonus {n}"})
    shown = client.get(f"/api/units/{unit.id}").json["worker"]
    assert [r["feedback"] for r in shown["reviews"]] == ["bonus 2", "bonus 1"]  # newest first, at most 2
    assert shown["review_count"] == 3
    full = client.get(f"/api/workers/{unit.worker_id}").json
    assert len(full["reviews"]) == full["review_count"] == 3


def _one_more_submitted_unit(review_app: ReviewApp, like: Unit, outputs: dict[str, str]) -> None:
    """A third unit in `like`'s assignment, submitted by `like`'s worker with `outputs`."""
    with review_app.database.write():
        extra = Unit.create(
            assignment=like.assignment_id,
            task_run=like.task_run_id,
            task=like.task_id,
            unit_index=2,
            pay_amount=like.pay_amount,
            status="completed",
            worker=like.worker_id,
        )
        agent = Agent.create(
            unit=extra,
            worker=like.worker_id,
            task_run=like.task_run_id,
            assignment=like.assignment_id,
            status="completed",
            outputs=outputs,
            token="extra-unit-token",
        )
        Unit.update(agent_id=agent.id).where(Unit.id == extra.id).execute()


def test_agreement_is_made_again_only_when_the_task_has_more_submitted_units(
    client, review_app: ReviewApp, monkeypatch
) -> None:
    study = task_units("study")
    study_id = study[0].task_id
    reads: list[object] = []
    answers = review_app.browser.answers_filtered
    monkeypatch.setattr(review_app.browser, "answers_filtered", lambda *a, **k: reads.append(a) or answers(*a, **k))
    first = client.get(f"/api/tasks/{study_id}/agreement").json
    # A verdict changes no answer: the numbers stand, and the answers are not read again.
    client.post(f"/api/units/{study[0].id}/approve")
    assert client.get(f"/api/tasks/{study_id}/agreement").json == first
    assert len(reads) == 1

    # One more submitted unit in the first assignment, disagreeing on the topic: made again, and different.
    _one_more_submitted_unit(review_app, study[0], {"topic": "another topic", "answer": "late", "frequency": "never"})
    again = client.get(f"/api/tasks/{study_id}/agreement").json
    assert len(reads) == 2
    assert again["fields"]["topic"]["percent"] < first["fields"]["topic"]["percent"] == 100.0


def test_the_task_s_workers_are_counted_again_only_when_more_units_are_submitted(
    client, review_app: ReviewApp, monkeypatch
) -> None:
    from mephisto_core.review_app import reads as review_reads

    study = task_units("study")
    study_id = study[0].task_id
    counted: list[int] = []
    task_workers = review_reads._task_workers
    monkeypatch.setattr(review_reads, "_task_workers", lambda task_id: counted.append(task_id) or task_workers(task_id))
    first = client.get(f"/api/tasks/{study_id}").json
    client.post(f"/api/units/{study[0].id}/approve")
    second = client.get(f"/api/tasks/{study_id}").json  # the page asks every 15 s
    assert counted == [study_id]
    assert second["workers"] == first["workers"] and second["unit_counts"] == {"completed": 7, "accepted": 1}

    _one_more_submitted_unit(review_app, study[0], {"topic": "t", "answer": "a", "frequency": "daily"})
    third = client.get(f"/api/tasks/{study_id}").json
    assert counted == [study_id, study_id]
    assert sum(w["units"] for w in third["workers"]) == sum(w["units"] for w in first["workers"]) + 1 == 9
