"""The provider against the fake Prolific: the real httpx client, real SQLite rows, the provider's own files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from mephisto_provider_prolific.testing import FakeProlific
from mephisto_provider_prolific.testing.runs import held_in_a_large_study
from prolific_provider_helpers import (
    WORKER_URL,
    fake,
    hold,
    keys_for,
    make_provider,
    make_run,
    submit_here,
    submitted_agents,
)

from mephisto_core.abstractions import DriftKind
from mephisto_core.data_model import Database
from mephisto_core.errors import ProviderError

__all__ = ["fake"]  # the fixture, imported for pytest

LONG_REASON = "The answers were copied from another submission word for word, which the instructions forbid. " * 2


@pytest.fixture
def data_dir(mephisto_settings: object) -> Path:
    return Path(mephisto_settings.data_dir)  # type: ignore[attr-defined]


def visit_params(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def test_setup_makes_a_draft_study_and_publishing_grows_its_places(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    run, units = make_run(mephisto_rows_database, 3, reward="1.25")
    provider = make_provider(fake, data_dir, workspace="Lab", project="Pilot", estimated_completion_minutes=7)
    provider.setup_resources(run, WORKER_URL)
    fake.set_balance(10_000, provider.store.load_run(run.id).workspace_id)  # type: ignore[union-attr]  # a new workspace
    [study] = fake.studies()
    assert study["status"] == "UNPUBLISHED"
    assert study["reward"] == 125
    assert study["estimated_completion_time"] == 7 and study["maximum_allowed_time"] == 10
    assert study["external_study_url"] == (
        WORKER_URL + "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    )
    assert study["internal_name"] == f"mephisto-run-{run.id}-1"
    [blocklist] = study["filters"]
    assert blocklist["filter_id"] == "participant_group_blocklist"
    groups = {g["id"]: g["name"] for g in fake.participant_groups()}
    assert sorted(groups[g] for g in blocklist["selected_values"]) == [
        "Mephisto block list",
        "Mephisto block list: label-things",
    ]

    keys = keys_for(units)
    published = provider.publish_units(units[:2], WORKER_URL, keys)
    assert set(published.values()) == {study["id"]}
    assert fake.study(study["id"])["status"] == "ACTIVE"
    assert fake.study(study["id"])["total_available_places"] == 2
    provider.publish_units(units[:2], WORKER_URL, keys)  # the same keys again: nothing more
    assert fake.study(study["id"])["total_available_places"] == 2
    provider.publish_units(units[2:], WORKER_URL, keys)
    assert fake.study(study["id"])["total_available_places"] == 3

    assert provider.find_published(keys[units[0].id]) == study["id"]
    assert provider.find_published("never-used") is None
    provider.expire_units(units[2:])
    assert fake.study(study["id"])["total_available_places"] == 2


def test_a_key_recorded_but_never_sent_is_not_found_and_publishing_it_again_adds_its_place(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    run, units = make_run(mephisto_rows_database, 2)
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, WORKER_URL)
    keys = keys_for(units)
    provider.publish_units(units[:1], WORKER_URL, keys)
    with provider.store.edit_run(run.id) as state:  # a crash after the record, before Prolific heard of it
        state.keys[keys[units[1].id]] = units[1].id
    assert provider.find_published(keys[units[1].id]) is None
    provider.publish_units(units[1:], WORKER_URL, keys)
    assert provider.find_published(keys[units[1].id]) is not None
    assert fake.studies()[0]["total_available_places"] == 2


def test_a_rate_limited_publish_is_retried(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    run, units = make_run(mephisto_rows_database, 2)
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, WORKER_URL)
    fake.fail_next("PATCH", "studies/*/", status=429, retry_after=0.1)
    fake.fail_next("POST", "studies/*/transition/", status=503, retry_after=None)
    provider.publish_units(units, WORKER_URL, keys_for(units))
    assert fake.studies()[0]["status"] == "ACTIVE"
    assert fake.studies()[0]["total_available_places"] == 2
    assert len(fake.requests_to("PATCH", "studies/*/")) == 2
    assert len(fake.requests_to("POST", "studies/*/transition/")) == 2


def test_setup_again_resumes_the_same_study_even_without_the_record(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    run, _ = make_run(mephisto_rows_database, 1)
    make_provider(fake, data_dir).setup_resources(run, WORKER_URL)
    make_provider(fake, data_dir).setup_resources(run, WORKER_URL)
    assert len(fake.studies()) == 1
    provider = make_provider(fake, data_dir)
    provider.store.run_path(run.id).unlink()  # the record is lost: the study is found by its internal name
    provider.setup_resources(run, WORKER_URL)
    assert len(fake.studies()) == 1
    assert provider.store.load_run(run.id).studies == [fake.studies()[0]["id"]]  # type: ignore[union-attr]


def test_a_participant_link_identifies_the_worker_and_completes_with_the_code(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    run, units = make_run(mephisto_rows_database, 1)
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, WORKER_URL)
    provider.publish_units(units, WORKER_URL, keys_for(units))
    study_id = fake.studies()[0]["id"]
    visit = fake.start(study_id, "p0000000000000000000001")
    identity = provider.identify_worker(visit_params(visit.url))
    assert identity.worker_name == "p0000000000000000000001"
    assert identity.provider_agent_id == visit.session_id
    assert identity.completion is not None and identity.completion.url == fake.completion_url
    assert identity.completion.label == "Return to Prolific"
    result = fake.complete(visit, identity.completion.fields["cc"])
    assert result.submission["status"] == "AWAITING REVIEW"

    assert provider.identify_worker({}).worker_name is None  # the preview
    wrong = provider.identify_worker({**visit_params(visit.url), "STUDY_ID": "other"})
    assert wrong.worker_name is None and wrong.refusal is not None and "'other'" in wrong.refusal
    missing = provider.identify_worker({"PROLIFIC_PID": "p1"})
    assert missing.refusal is not None and "SESSION_ID" in missing.refusal


def test_reconcile_frees_returned_and_timed_out_units_and_finds_submissions_made_there(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    run, units = make_run(mephisto_rows_database, 4)
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, WORKER_URL)
    provider.publish_units(units, WORKER_URL, keys_for(units))
    study_id = fake.studies()[0]["id"]
    visits = [fake.start(study_id, f"p{i:023d}") for i in range(4)]
    for unit, visit in zip(units, visits, strict=True):
        hold(mephisto_rows_database, unit, visit.participant_id, visit.session_id)
    fake.return_submission(visits[0])
    fake.time_out(visits[1])
    code = provider.store.load_run(run.id).codes[study_id]  # type: ignore[union-attr]
    fake.complete(visits[2], code)  # came back to Prolific; its page's submit never reached us
    submit_here(mephisto_rows_database, units[3], mephisto_rows_database and _agent(units[3]))
    fake.complete(visits[3], code)  # submitted here and there: nothing to reconcile
    units = [type(u).get_by_id(u.id) for u in units]
    drifts = {d.unit_id: d for d in provider.reconcile_units(run, units)}
    assert drifts[units[0].id].kind == DriftKind.ABANDONED_THERE
    assert drifts[units[1].id].kind == DriftKind.ABANDONED_THERE
    assert drifts[units[2].id].kind == DriftKind.SUBMITTED_THERE
    assert drifts[units[2].id].worker_name == visits[2].participant_id
    assert units[3].id not in drifts


def _sync_calls(fake: FakeProlific, before: int) -> tuple[int, int]:
    """(submission listings' pages, single submission GETs) asked since the request log held `before` calls."""
    calls = fake.requests[before:]
    pages = sum(1 for c in calls if c.method == "GET" and c.path.endswith("/submissions/"))
    each = sum(1 for c in calls if c.method == "GET" and c.path.startswith("submissions/") and c.path.count("/") == 2)
    return pages, each


def test_the_in_run_sync_reads_a_few_held_units_of_a_large_study_one_by_one(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    """Late in a large study few units are held: after one listing has shown the study's size, a sync asks for the
    held submissions (8 at once) instead of listing every page again."""
    provider = make_provider(fake, data_dir)
    run, units, visits, study_id = held_in_a_large_study(fake, mephisto_rows_database, provider, 12, 1500)
    fake.return_submission(visits[0])
    code = provider.store.load_run(run.id).codes[study_id]  # type: ignore[union-attr]
    fake.complete(visits[1], code)
    expected = {units[0].id: DriftKind.ABANDONED_THERE, units[1].id: DriftKind.SUBMITTED_THERE}

    before = len(fake.requests)
    first = provider.reconcile_units(run, units)  # the study not listed yet: taken to fit one page
    assert {d.unit_id: d.kind for d in first} == expected
    assert _sync_calls(fake, before) == (16, 0)  # 1,512 submissions, 100 a page

    before = len(fake.requests)
    second = provider.reconcile_units(run, units)  # 12 GETs against 16 pages, known now
    assert {d.unit_id: d.kind for d in second} == expected
    assert {d.provider_unit_id for d in second} == {study_id}
    assert {d.worker_name for d in second if d.kind is DriftKind.SUBMITTED_THERE} == {visits[1].participant_id}
    assert _sync_calls(fake, before) == (0, 12)


def test_the_in_run_sync_lists_a_study_when_many_of_its_submissions_are_held(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider = make_provider(fake, data_dir)
    run, units, visits, _study = held_in_a_large_study(fake, mephisto_rows_database, provider, 40, 20)
    fake.time_out(visits[5])
    for _ in range(2):
        before = len(fake.requests)
        drifts = provider.reconcile_units(run, units)
        assert [(d.unit_id, d.kind) for d in drifts] == [(units[5].id, DriftKind.ABANDONED_THERE)]
        assert _sync_calls(fake, before) == (1, 0)  # 60 submissions fit one page, against 40 GETs


@pytest.mark.parametrize(
    ("held", "pages", "lists"),
    [
        (1, 1, True),  # as many calls either way: the listing also learns the study's size
        (12, 16, False),  # fewer calls, and fewer rounds (2 against 16)
        (200, 32, True),  # 32 calls against 200: the listing, though it takes 32 rounds against 25
        (100, 100, True),
        (400, 150, False),  # a listing that long risks the call's timeout: 50 rounds of GETs against 150
        (2000, 150, True),  # 250 rounds of GETs: the listing is both fewer calls and fewer rounds
    ],
)
def test_the_sync_reads_held_submissions_the_way_with_fewer_calls(held: int, pages: int, lists: bool) -> None:
    from mephisto_core.abstractions import listing_beats_each

    assert listing_beats_each(held, pages) is lists


def test_a_held_session_prolific_does_not_know_is_left_held_and_the_others_are_reconciled(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    provider = make_provider(fake, data_dir)
    run, [held], [visit], _study = held_in_a_large_study(fake, mephisto_rows_database, provider, 1, 250)
    forged = make_run(mephisto_rows_database, 1)[1][0]
    forged.task_run = run
    forged.save()
    hold(mephisto_rows_database, forged, "p" + "1" * 23, "f" * 24)  # a SESSION_ID typed by hand
    fake.return_submission(visit)
    units = [type(u).get_by_id(u.id) for u in (held, forged)]
    for _ in range(3):  # listed (the study's size learnt: 3 pages), then a GET each
        drifts = provider.reconcile_units(run, units)
        assert [(d.unit_id, d.kind) for d in drifts] == [(held.id, DriftKind.ABANDONED_THERE)]
    assert caplog.text.count("has no submission " + "f" * 24) == 1  # said once, not at every sync


def _agent(unit: object) -> object:
    from mephisto_core.data_model import Agent

    return Agent.get_by_id(unit.agent_id)  # type: ignore[attr-defined]


def test_approve_and_reject(fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 3)
    provider.approve_work(agents[0], "thanks")  # type: ignore[attr-defined]
    provider.approve_work(agents[0], "thanks")  # type: ignore[attr-defined]  # asked again after a crash: fine
    with pytest.raises(ProviderError, match="at least 100 characters"):
        provider.reject_work(agents[1], "too short")  # type: ignore[attr-defined]
    provider.reject_work(agents[1], LONG_REASON)  # type: ignore[attr-defined]
    with pytest.raises(ProviderError, match="it is REJECTED, not AWAITING REVIEW"):
        provider.approve_work(agents[1], "changed my mind")  # type: ignore[attr-defined]
    statuses = [fake.submission(a.provider_agent_id)["status"] for a in agents]  # type: ignore[attr-defined]
    assert statuses == ["APPROVED", "REJECTED", "AWAITING REVIEW"]


def test_a_bonus_is_paid_once_per_key_even_when_the_answer_to_pay_was_lost(
    monkeypatch: pytest.MonkeyPatch, mephisto_rows_database: Database, data_dir: Path
) -> None:
    with FakeProlific(pay_twice=True) as fake:  # as Prolific documents: paying a bulk bonus twice pays twice
        monkeypatch.setenv("MEPHISTO_PROLIFIC_API_URL", fake.base_url)
        provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 1)
        agent = agents[0]
        worker, unit = agent.worker, agent.unit  # type: ignore[attr-defined]
        first = provider.pay_bonus(worker, Decimal("0.75"), "great work", unit, "key-1")  # type: ignore[attr-defined]
        again = provider.pay_bonus(worker, Decimal("0.75"), "great work", unit, "key-1")  # type: ignore[attr-defined]
        assert first == again
        assert len(fake.bonuses_paid()) == 1
        # The pay call went through but its answer was lost: the record says "asked", not "paid".
        record = provider.store.bonus("key-1")  # type: ignore[attr-defined]
        record.paid = False
        provider.store.save_bonus("key-1", record)  # type: ignore[attr-defined]
        assert provider.pay_bonus(worker, Decimal("0.75"), "great work", unit, "key-1") == first  # type: ignore[attr-defined]
        assert len(fake.bonuses_paid()) == 1
        provider.pay_bonus(worker, Decimal("0.25"), "more", unit, "key-2")  # type: ignore[attr-defined]
        assert len(fake.bonuses_paid()) == 2
        submission = fake.submission(agent.provider_agent_id)  # type: ignore[attr-defined]
        assert submission["bonus_payments"] == [75, 25]
        assert [m["body"] for m in fake.messages()] == ["Bonus of 0.75: great work", "Bonus of 0.25: more"]


def test_a_bonus_whose_reason_could_not_be_sent_is_not_paid_again(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 1)
    worker, unit = agents[0].worker, agents[0].unit  # type: ignore[attr-defined]
    fake.fail_next("POST", "messages/", status=400)
    with pytest.raises(ProviderError, match=r"the bonus was paid .* Asking again sends the message only"):
        provider.pay_bonus(worker, Decimal("1.00"), "thanks", unit, "key-m")  # type: ignore[attr-defined]
    provider.pay_bonus(worker, Decimal("1.00"), "thanks", unit, "key-m")  # type: ignore[attr-defined]
    assert len(fake.bonuses_paid()) == 1
    assert [m["body"] for m in fake.messages()] == ["Bonus of 1.00: thanks"]


def test_block_and_unblock_keep_the_participant_out_of_every_study(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    from mephisto_provider_prolific.testing import ParticipantRefused

    from mephisto_core.data_model import Worker

    run, units = make_run(mephisto_rows_database, 2)
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, WORKER_URL)
    provider.publish_units(units, WORKER_URL, keys_for(units))
    with mephisto_rows_database.write():
        worker = Worker.create(provider_type="prolific", name="b0000000000000000000001")
    provider.block_worker(worker, "spam")
    [group] = [g for g in fake.participant_groups() if g["name"] == "Mephisto block list"]
    assert fake.group_members(group["id"]) == [worker.name]
    study_id = fake.studies()[0]["id"]
    with pytest.raises(ParticipantRefused, match="block-list"):
        fake.start(study_id, worker.name)
    provider.unblock_worker(worker)
    assert fake.group_members(group["id"]) == []
    fake.start(study_id, worker.name)


def test_qualified_workers_form_the_run_allow_list_kept_in_step_with_grants(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    from mephisto_core.data_model import Worker

    with mephisto_rows_database.write():
        ann = Worker.create(provider_type="prolific", name="ann")
        bob = Worker.create(provider_type="prolific", name="bob")
        grant_qualification(ann, "trained", 3)
        grant_qualification(bob, "trained", 1)
    requirement = {"name": "trained", "comparator": ">=", "value": 2}
    run, _ = make_run(mephisto_rows_database, 1, qualifications=[requirement])
    provider = make_provider(fake, data_dir)
    mapping = provider.platform_requirements([_requirement(requirement)])
    assert list(mapping.platform) == ["trained"]
    provider.setup_resources(run, WORKER_URL)
    group_id = provider.store.load_run(run.id).allow_group_id  # type: ignore[union-attr]
    assert fake.group_members(group_id) == ["ann"]
    study = fake.studies()[0]
    assert {"filter_id": "participant_group_allowlist", "selected_values": [group_id]} in study["filters"]
    provider.grant_qualification(bob, "trained", 5)
    assert sorted(fake.group_members(group_id)) == ["ann", "bob"]
    provider.revoke_qualification(ann, "trained")
    assert fake.group_members(group_id) == ["bob"]


def _requirement(data: dict[str, object]) -> object:
    from mephisto_core.abstractions import TaskArgs

    return TaskArgs.model_validate({"name": "t", "title": "T", "qualifications": [data]}).qualifications[0]


def grant_qualification(worker: object, name: str, value: int) -> None:
    from mephisto_core.data_model import GrantedQualification, Qualification

    qualification, _ = Qualification.get_or_create(name=name)
    GrantedQualification.create(worker=worker, qualification=qualification, value=value)


def test_cleanup_stops_a_finished_run_study_renames_it_and_deletes_its_group(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 1)
    run = agents[0].task_run  # type: ignore[attr-defined]
    provider.cleanup_resources(run)  # type: ignore[attr-defined]
    [study] = fake.studies()
    assert study["internal_name"].endswith("-finished")
    assert study["status"] in ("AWAITING REVIEW", "COMPLETED")
    provider.cleanup_resources(run)  # type: ignore[attr-defined]  # twice: nothing more, no error


def test_interrupted_run_is_stopped_and_resumed_with_a_new_study(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    run, units = make_run(mephisto_rows_database, 2)
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, WORKER_URL)
    provider.publish_units(units, WORKER_URL, keys_for(units))
    provider.expire_units(units)  # Ctrl-C: the core withdraws the units nobody started (here and in the database)
    with mephisto_rows_database.write():
        for unit in units:
            unit.status = "expired"
            unit.save()
    provider.cleanup_resources(run)
    first = fake.studies()[0]
    assert not first["internal_name"].endswith("-finished")
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, WORKER_URL)
    provider.publish_units(units, WORKER_URL, keys_for(units))
    studies = {s["id"]: s for s in fake.studies()}
    assert len(studies) == 2
    second = next(s for s in studies.values() if s["id"] != first["id"])
    assert second["status"] == "ACTIVE" and second["internal_name"] == f"mephisto-run-{run.id}-2"
    assert second["total_available_places"] == 2


def test_a_relaunch_at_another_address_moves_the_offered_units_to_a_new_study(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    run, units = make_run(mephisto_rows_database, 3)
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, "http://127.0.0.1:4001/")
    keys = keys_for(units)
    provider.publish_units(units, WORKER_URL, keys)
    old = fake.studies()[0]["id"]
    visit = fake.start(old, "h0000000000000000000001")
    hold(mephisto_rows_database, units[0], visit.participant_id, visit.session_id)
    # kill -9, then a launch that serves the task on another port: Prolific cannot change a published URL
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, "http://127.0.0.1:4002/")
    studies = {s["id"]: s for s in fake.studies()}
    new = next(s for s in studies.values() if s["id"] != old)
    assert studies[old]["status"] == "AWAITING REVIEW"  # stopped; the participant holding a unit can still finish
    assert new["external_study_url"].startswith("http://127.0.0.1:4002/?PROLIFIC_PID=")
    assert new["status"] == "ACTIVE" and new["total_available_places"] == 2  # the two units still offered
    assert provider.find_published(keys[units[0].id]) == ""  # published in the stopped study
    code = provider.store.load_run(run.id).codes[old]  # type: ignore[union-attr]
    identity = provider.identify_worker(visit_params(visit.url))
    assert identity.completion is not None and identity.completion.fields["cc"] == code


def test_fee_and_balance(fake: FakeProlific, data_dir: Path) -> None:
    provider = make_provider(fake, data_dir, fee_vat_rate=Decimal("0.2"))
    assert provider.fee(Decimal("1.00")) == Decimal("0.40")
    assert "33.33%" in provider.fee_schedule() and "VAT" in provider.fee_schedule()
    assert make_provider(fake, data_dir, workspace="Nowhere").balance() is None
    assert provider.balance() == Decimal(fake.balance_cents()) / 100


def test_validate_credentials_asks_prolific(fake: FakeProlific) -> None:
    from mephisto_provider_prolific.provider import ProlificProvider

    assert ProlificProvider.validate_credentials({"api_key": fake.api_key}) == {"api_key": fake.api_key}
    with pytest.raises(ProviderError, match="did not accept this API token") as caught:
        ProlificProvider.validate_credentials({"api_key": "wrong-token-xyz"})
    assert "wrong-token-xyz" not in str(caught.value)


def test_a_task_block_keeps_the_participant_out_of_that_task_only_and_old_blocks_reach_prolific_at_setup(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    from mephisto_provider_prolific.testing import ParticipantRefused

    from mephisto_core.data_model import Worker

    with mephisto_rows_database.write():
        early = Worker.create(provider_type="prolific", name="e0000000000000000000001")
        grant_qualification(early, "mephisto-blocked", 1)  # blocked before any Prolific run existed
        late = Worker.create(provider_type="prolific", name="l0000000000000000000001")
    run, units = make_run(mephisto_rows_database, 2, task_name="task-a")
    other_run, other_units = make_run(mephisto_rows_database, 2, task_name="task-b")
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, WORKER_URL)
    provider.publish_units(units, WORKER_URL, keys_for(units))
    other = make_provider(fake, data_dir)
    other.setup_resources(other_run, WORKER_URL + "b/")
    other.publish_units(other_units, WORKER_URL + "b/", keys_for(other_units))
    study_a, study_b = (provider.store.load_run(r.id).study_id for r in (run, other_run))  # type: ignore[union-attr]
    with pytest.raises(ParticipantRefused, match="block-list"):
        fake.start(study_a, early.name)
    provider.block_worker_for_task(late, "task-a", "not for this one")
    with pytest.raises(ParticipantRefused, match="block-list"):
        fake.start(study_a, late.name)
    fake.start(study_b, late.name)  # another task's study still takes them
    provider.unblock_worker_for_task(late, "task-a")
    fake.start(study_a, late.name)


def test_work_stored_here_but_never_completed_at_prolific_is_completed_there_then_approved(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    run, units = make_run(mephisto_rows_database, 1)
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, WORKER_URL)
    provider.publish_units(units, WORKER_URL, keys_for(units))
    visit = fake.start(fake.studies()[0]["id"], "c0000000000000000000001")
    agent = hold(mephisto_rows_database, units[0], visit.participant_id, visit.session_id)
    submit_here(mephisto_rows_database, units[0], agent)  # the page closed before it went back to Prolific
    assert fake.submission(visit.session_id)["status"] == "ACTIVE"
    provider.approve_work(agent, "thanks")
    assert fake.submission(visit.session_id)["status"] == "APPROVED"


def test_approvals_and_bonuses_from_several_threads_at_once(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    # A bulk approve or bonus in the review asks the provider for 8 units at once, from 8 threads.
    from concurrent.futures import ThreadPoolExecutor

    provider, agents = submitted_agents(fake, mephisto_rows_database, data_dir, 16)

    def approve_and_pay(indexed: tuple[int, Any]) -> str | None:
        index, agent = indexed
        provider.approve_work(agent, "thanks")  # type: ignore[attr-defined]
        return provider.pay_bonus(agent.worker, Decimal("0.25"), "clear", agent.unit, f"bonus-{index}")  # type: ignore[attr-defined,no-any-return]

    fake.set_latency(0.02)  # calls overlap, as at Prolific
    with ThreadPoolExecutor(max_workers=8) as pool:
        references = list(pool.map(approve_and_pay, enumerate(agents)))

    assert {fake.submission(a.provider_agent_id)["status"] for a in agents} == {"APPROVED"}  # type: ignore[attr-defined]
    assert len(set(references)) == 16 and len(fake.bonuses_paid()) == 16
    assert all(provider.store.bonus(f"bonus-{i}").paid for i in range(16))  # type: ignore[attr-defined]
    assert fake.bonus_requests_at_once == 1  # Prolific does not support concurrent bonus requests


def test_workers_blocked_from_several_threads_at_once_share_one_new_block_list(
    fake: FakeProlific, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No launch made the block list yet: each thread finds it missing. A list call takes a moment, as over a network.
    import time
    from concurrent.futures import ThreadPoolExecutor

    from mephisto_provider_prolific.api import ProlificAPI

    from mephisto_core.data_model import Worker

    groups = ProlificAPI.groups

    def slow_groups(self: ProlificAPI, workspace_id: str) -> Any:
        found = groups(self, workspace_id)
        time.sleep(0.05)
        return found

    monkeypatch.setattr(ProlificAPI, "groups", slow_groups)
    provider = make_provider(fake, data_dir)
    workers = [Worker(provider_type="prolific", name=f"{index:024d}") for index in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda worker: provider.block_worker(worker, "bot"), workers))  # type: ignore[attr-defined]

    (block_list,) = [g for g in fake.participant_groups() if g["name"] == provider.pargs.block_list_group]  # type: ignore[attr-defined]
    assert sorted(fake.group_members(block_list["id"])) == sorted(str(w.name) for w in workers)


def test_grants_to_many_workers_keep_the_allow_list_in_step_in_one_call_each_way(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    from mephisto_core.data_model import Worker

    with mephisto_rows_database.write():
        workers = [Worker.create(provider_type="prolific", name=f"p{index}") for index in range(6)]
        grant_qualification(workers[0], "trained", 3)
    requirement = {"name": "trained", "comparator": ">=", "value": 2}
    run, _ = make_run(mephisto_rows_database, 1, qualifications=[requirement])
    provider = make_provider(fake, data_dir)
    provider.setup_resources(run, WORKER_URL)
    group_id = provider.store.load_run(run.id).allow_group_id  # type: ignore[union-attr]
    assert fake.group_members(group_id) == ["p0"]
    members = f"participant-groups/{group_id}/participants/"
    before = len(fake.requests_to("*", members))

    # p1-p3 reach the required value, p0 and p4 fall below it (p0 held 3), p5 is not asked about.
    assert provider.grant_qualification_many(workers[1:4], "trained", 2) == [None] * 3
    assert provider.grant_qualification_many([workers[0], workers[4]], "trained", 1) == [None] * 2
    assert sorted(fake.group_members(group_id)) == ["p1", "p2", "p3"]
    assert provider.revoke_qualification_many(workers[1:3], "trained") == [None] * 2
    assert fake.group_members(group_id) == ["p3"]
    # one call each way per bulk at most (an empty side makes none)
    assert len(fake.requests_to("*", members)) - before == 1 + 1 + 1


def test_a_launch_reads_the_eligible_workers_in_two_statements_however_many_there_are(
    fake: FakeProlific, mephisto_rows_database: Database, data_dir: Path
) -> None:
    from mephisto_provider_prolific.eligibility import eligible_participants

    from mephisto_core.data_model import Worker

    with mephisto_rows_database.write():
        for index in range(40):
            worker = Worker.create(provider_type="prolific", name=f"e{index:02d}")
            grant_qualification(worker, "trained", index % 4)
        Worker.create(provider_type="mturk", name="e99")
    statements: list[str] = []
    execute_sql = mephisto_rows_database.db.execute_sql

    def counted(sql: str, *args: object, **kwargs: object) -> object:
        statements.append(sql)
        return execute_sql(sql, *args, **kwargs)

    mephisto_rows_database.db.execute_sql = counted  # type: ignore[method-assign]
    try:
        names = eligible_participants("prolific", [{"name": "trained", "comparator": ">=", "value": 2}])
    finally:
        del mephisto_rows_database.db.execute_sql
    assert names == [f"e{index:02d}" for index in range(40) if index % 4 >= 2]
    assert len(statements) == 2
