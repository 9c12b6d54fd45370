"""The MTurk provider against the local FakeMTurk through the real boto3 client: setup, publishing, workers,
reconciliation, withdrawal and review actions."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import boto3
import pytest
from mephisto_provider_mturk import client as mturk_client
from mephisto_provider_mturk import reconciliation
from mephisto_provider_mturk.testing import FakeMTurk
from mturk_test_helpers import WORKER_URL, give_config, link_params, make_provider

from mephisto_core.abstractions import DriftKind, TaskArgs
from mephisto_core.data_model import Agent, Unit, UnitStatus
from mephisto_core.errors import ProviderError


def _published(fake: FakeMTurk, provider: Any, run: Any, units: list[Unit]) -> dict[int, str | None]:
    keys = {u.id: f"mephisto-{run.id}-{u.id}-k" for u in units}
    result = provider.publish_units(units, WORKER_URL, keys)
    for unit in units:
        unit.provider_unit_id = result[unit.id]
        unit.save()
    return result


def test_setup_makes_one_hit_type_and_qualification_types_once(fake, mephisto_settings, make_submitted_run) -> None:  # type: ignore[no-untyped-def]
    run = give_config(
        make_submitted_run(1, provider_type="mturk_sandbox", requester_name="lab").run,
        qualifications=[{"name": "trusted", "comparator": ">=", "value": 3}],
    )
    provider = make_provider(mephisto_settings.data_dir, allowed_locales=["US", "CA"])
    provider.setup_resources(run, WORKER_URL)
    again = make_provider(mephisto_settings.data_dir, allowed_locales=["US", "CA"])
    again.setup_resources(run, WORKER_URL)  # a resumed launch: nothing new is created
    creates = fake.requests("CreateQualificationType")
    assert sorted(r.params["Name"] for r in creates) == [f"{run.task.name}-blocked", "trusted"]
    hit_type = fake.requests("CreateHITType")[0]
    params = hit_type.params
    assert params["Reward"] == "0.50" and params["Title"] == "Describe a picture"
    assert params["Keywords"] == "image,writing" and params["AssignmentDurationInSeconds"] == 600
    assert params["AutoApprovalDelayInSeconds"] == 7 * 24 * 3600
    comparators = {q["QualificationTypeId"]: q for q in params["QualificationRequirements"]}
    assert any(q["Comparator"] == "GreaterThanOrEqualTo" and q["IntegerValues"] == [3] for q in comparators.values())
    assert any(q["Comparator"] == "DoesNotExist" for q in comparators.values())
    locale = comparators["00000000000000000071"]
    assert locale["LocaleValues"] == [{"Country": "US"}, {"Country": "CA"}]
    mapping = provider.platform_requirements(TaskArgs.model_validate(run.config["task"]).qualifications)
    assert mapping.local_only == {} and "GreaterThanOrEqualTo 3" in mapping.platform["trusted"]


def test_live_mturk_adds_the_default_locales_and_sandbox_none(fake, mephisto_settings) -> None:  # type: ignore[no-untyped-def]
    from mephisto_provider_mturk.provider import MTurkProvider

    live = make_provider(mephisto_settings.data_dir, MTurkProvider)
    assert "US, CA, GB, AU, NZ" in live.platform_requirements([]).platform["(MTurk locale)"]
    assert make_provider(mephisto_settings.data_dir).platform_requirements([]).platform == {}


def test_a_qualification_name_mturk_refuses_gets_a_suffix(fake, mephisto_settings) -> None:  # type: ignore[no-untyped-def]
    provider = make_provider(mephisto_settings.data_dir)
    provider._call(
        "make a type", "create_qualification_type", Name="taken", Description="x", QualificationTypeStatus="Inactive"
    )
    type_id = provider.qualification_types().ensure("taken")
    names = [r.params["Name"] for r in fake.requests("CreateQualificationType")]
    assert names[-1].startswith("taken (mephisto ") and names.count("taken") == 2
    assert provider.qualification_types().ensure("taken") == type_id  # cached: asked once


def test_publish_uses_the_key_as_token_and_never_makes_a_second_hit(
    fake, mephisto_settings, make_submitted_run
) -> None:  # type: ignore[no-untyped-def]
    submitted = make_submitted_run(3, provider_type="mturk_sandbox", requester_name="lab")
    run = give_config(submitted.run)
    provider = make_provider(mephisto_settings.data_dir)
    provider.setup_resources(run, WORKER_URL)
    units = submitted.units
    # Created at MTurk, the answer lost: botocore retries with the same token, MTurk refuses it as a duplicate
    # and the provider answers with the HIT the first attempt made.
    fake.fail_next("CreateHITWithHITType", kind="drop_after")
    first = provider.publish_units(units[:1], WORKER_URL, {units[0].id: "key-0"})
    found = provider.find_published("key-0")
    assert found is not None and first == {units[0].id: found} and len(fake.snapshot().hits) == 1
    # Unreachable for every attempt: the core gets a ProviderError and asks find_published later.
    fake.fail_next("CreateHITWithHITType", times=6, kind="drop")
    with pytest.raises(ProviderError, match="could not reach MTurk"):
        provider.publish_units(units[1:2], WORKER_URL, {units[1].id: "key-1"})
    assert provider.find_published("key-1") is None
    # Published again under the same key (the core does so when unsure): MTurk refuses, the first HIT is used.
    assert provider.publish_units(units[:1], WORKER_URL, {units[0].id: "key-0"}) == {units[0].id: found}
    result = provider.publish_units(units[1:], WORKER_URL, {u.id: f"key-{u.id}" for u in units[1:]})
    assert len(fake.snapshot().hits) == 3 and found not in result.values()
    last_key = f"key-{units[2].id}"
    (create,) = [r.params for r in fake.requests("CreateHITWithHITType") if r.params["UniqueRequestToken"] == last_key]
    assert create["MaxAssignments"] == 1
    assert create["RequesterAnnotation"].endswith(f":{run.id}:key-{units[2].id}")
    assert "<ExternalURL>http://127.0.0.1:9/task/?x=1</ExternalURL>" in create["Question"]
    assert provider.find_published("never-used") is None


def test_worker_link_reconcile_returned_and_submitted(fake, mephisto_settings, make_held_unit) -> None:  # type: ignore[no-untyped-def]
    held = make_held_unit(provider_type="mturk_sandbox", requester_name="lab", worker_name="AWORKER1")
    run = give_config(held.unit.task_run)
    provider = make_provider(mephisto_settings.data_dir)
    provider.setup_resources(run, WORKER_URL)
    (hit_id,) = _published(fake, provider, run, [held.unit]).values()
    assert hit_id is not None
    # The preview reserves nothing; the accepted HIT's link names worker and assignment.
    assert provider.identify_worker(link_params(fake.preview_url(hit_id))).worker_name is None
    visit = fake.accept(hit_id, "AWORKER1")
    assert visit.url is not None
    identity = provider.identify_worker(link_params(visit.url))
    assert (identity.worker_name, identity.provider_agent_id) == ("AWORKER1", visit.assignment_id)
    assert identity.completion is not None and identity.completion.url == fake.submit_url
    held.agent.provider_agent_id = visit.assignment_id
    held.agent.save()
    Unit.update(status=UnitStatus.ASSIGNED.value).where(Unit.id == held.unit.id).execute()  # held here
    unit = Unit.get_by_id(held.unit.id)
    assert provider.reconcile_units(run, [unit]) == []  # working on it: nothing to say
    assert fake.requests("GetAssignment") == []  # one GetHIT per held unit is enough for that
    fake.return_assignment(visit.assignment_id)
    (drift,) = provider.reconcile_units(run, [unit])
    assert (drift.kind, drift.unit_id) == (DriftKind.ABANDONED_THERE, unit.id)
    # Another acceptance of the same HIT that is submitted at MTurk: stored there, answer included.
    again = fake.accept(hit_id, "AWORKER1")
    held.agent.provider_agent_id = again.assignment_id
    held.agent.save()
    fake.submit(again.assignment_id, {"assignmentId": again.assignment_id, "topic": "cats"})
    (drift,) = provider.reconcile_units(run, [unit])
    assert drift.kind is DriftKind.SUBMITTED_THERE and drift.worker_name == "AWORKER1"
    assert drift.outputs == {"topic": "cats"}


def test_open_hits_beyond_the_offered_units_are_unknown_here(fake, mephisto_settings, make_submitted_run) -> None:  # type: ignore[no-untyped-def]
    submitted = make_submitted_run(2, provider_type="mturk_sandbox", requester_name="lab")
    run = give_config(submitted.run)
    provider = make_provider(mephisto_settings.data_dir)
    provider.setup_resources(run, WORKER_URL)
    hits = _published(fake, provider, run, submitted.units)
    # Both units are completed here: their still-open HITs are what a crash left.
    fresh = make_provider(mephisto_settings.data_dir)
    drifts = fresh.reconcile_units(run, list(Unit.select().where(Unit.task_run == run.id)))
    assert sorted(d.provider_unit_id or "" for d in drifts) == sorted(h or "" for h in hits.values())
    assert {d.kind for d in drifts} == {DriftKind.UNKNOWN_HERE}
    assert fresh.reconcile_units(run, []) == []  # in-run syncs only look at held work


def test_expire_and_cleanup_leave_no_hit_open(fake, mephisto_settings, make_submitted_run) -> None:  # type: ignore[no-untyped-def]
    submitted = make_submitted_run(3, provider_type="mturk_sandbox", requester_name="lab")
    run = give_config(submitted.run)
    provider = make_provider(mephisto_settings.data_dir)
    provider.setup_resources(run, WORKER_URL)
    hits = _published(fake, provider, run, submitted.units)
    first = submitted.units[0]
    provider.expire_units([first])
    provider.expire_units([first])  # twice is harmless
    assert fake.hit_status(str(hits[first.id])) != "Assignable"
    provider.cleanup_resources(run)
    assert all(fake.hit_status(str(h)) != "Assignable" for h in hits.values())


def _set_up_run(settings: Any, make_submitted_run: Any, units: int) -> tuple[Any, Any, Any]:
    """A run of `units` submitted units of requester `lab`, with its provider set up at MTurk (its HIT type)."""
    submitted = make_submitted_run(units, provider_type="mturk_sandbox", requester_name="lab")
    run = give_config(submitted.run)
    provider = make_provider(settings.data_dir)
    provider.setup_resources(run, WORKER_URL)
    return submitted, run, provider


def _most_at_once(fake: FakeMTurk, operation: str, window: float) -> int:
    """The most calls of `operation` that reached the fake within `window` seconds of each other."""
    times = sorted(r.time for r in fake.requests(operation))
    return max(sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times))


def test_publishing_and_withdrawing_many_units_ask_mturk_several_at_once(  # type: ignore[no-untyped-def]
    fake, mephisto_settings, make_submitted_run
) -> None:
    submitted, run, provider = _set_up_run(mephisto_settings, make_submitted_run, 16)
    # Each call waits 0.3 s at the fake: calls made one after the other arrive at least that far apart.
    fake.set_latency(0.3)
    hits = _published(fake, provider, run, submitted.units)
    provider.expire_units(submitted.units[:12])
    fake.set_latency(0)

    assert _most_at_once(fake, "CreateHITWithHITType", 0.2) >= 4
    assert _most_at_once(fake, "GetHIT", 0.2) >= 4
    assert len(fake.requests("UpdateExpirationForHIT")) == 12
    statuses = [fake.hit_status(str(hits[unit.id])) for unit in submitted.units]
    assert statuses.count("Assignable") == 4  # the four not withdrawn
    provider.cleanup_resources(run)
    assert all(fake.hit_status(str(h)) != "Assignable" for h in hits.values())


def _held_at_mturk(fake: FakeMTurk, run: Any, provider: Any, units: list[Unit], returned: int) -> dict[int, str]:
    """Every unit held here, each by a worker who accepted its HIT; the first `returned` were returned at MTurk.
    The run's first call (which also looks for HITs left by a crash) has been made."""
    hits = _published(fake, provider, run, units)
    for index, unit in enumerate(units):
        visit = fake.accept(str(hits[unit.id]), f"AWORKER{index}")
        Agent.update(provider_agent_id=visit.assignment_id).where(Agent.id == unit.agent_id).execute()
        if index < returned:
            fake.return_assignment(visit.assignment_id)
    Unit.update(status=UnitStatus.ASSIGNED.value).where(Unit.task_run == run.id).execute()
    provider.reconcile_units(run, [])
    return {unit_id: str(hit_id) for unit_id, hit_id in hits.items()}


def test_the_in_run_sync_asks_about_several_held_units_at_once(  # type: ignore[no-untyped-def]
    fake, mephisto_settings, make_submitted_run, monkeypatch
) -> None:
    # An account whose listing takes more calls than reading each held HIT: a page of one HIT stands for an
    # account of thousands, of whose 16 HITs 12 are looked at.
    for module in (mturk_client, reconciliation):
        monkeypatch.setattr(module, "PAGE_SIZE", 1)
    submitted, run, provider = _set_up_run(mephisto_settings, make_submitted_run, 16)
    _held_at_mturk(fake, run, provider, submitted.units, returned=1)
    listings = len(fake.requests("ListHITs"))
    fake.set_latency(0.3)
    drifts = provider.reconcile_units(run, list(Unit.select().where(Unit.task_run == run.id).order_by(Unit.id))[:12])
    fake.set_latency(0)

    assert [(d.kind, d.unit_id) for d in drifts] == [(DriftKind.ABANDONED_THERE, submitted.units[0].id)]
    assert _most_at_once(fake, "GetHIT", 0.2) >= 4
    assert len(fake.requests("ListHITs")) == listings  # no listing: 16 pages against 12 GetHITs


def test_the_in_run_sync_reads_many_held_units_from_one_listing(  # type: ignore[no-untyped-def]
    fake, mephisto_settings, make_submitted_run
) -> None:
    submitted, run, provider = _set_up_run(mephisto_settings, make_submitted_run, 150)
    _held_at_mturk(fake, run, provider, submitted.units, returned=2)
    hit_reads, listings = len(fake.requests("GetHIT")), len(fake.requests("ListHITs"))
    submitted_there = submitted.units[5]
    assignment_id = str(Agent.get_by_id(submitted_there.agent_id).provider_agent_id)
    fake.submit(assignment_id, {"assignmentId": assignment_id, "topic": "dogs"})
    drifts = provider.reconcile_units(run, list(Unit.select().where(Unit.task_run == run.id)))

    kinds = sorted((d.unit_id, d.kind) for d in drifts)
    assert kinds == sorted(
        [(u.id, DriftKind.ABANDONED_THERE) for u in submitted.units[:2]]
        + [(submitted_there.id, DriftKind.SUBMITTED_THERE)]
    )
    (there,) = [d for d in drifts if d.kind is DriftKind.SUBMITTED_THERE]
    assert there.outputs == {"topic": "dogs"}
    # 150 HITs in 2 pages, where a GetHIT each would have been 19 rounds of 8 calls
    assert len(fake.requests("ListHITs")) - listings == 2
    assert len(fake.requests("GetHIT")) == hit_reads
    assert len(fake.requests("GetAssignment")) == 3  # only for the HITs that no longer hold their assignment


def test_a_start_with_many_held_units_lists_the_account_once(  # type: ignore[no-untyped-def]
    fake, mephisto_settings, make_submitted_run
) -> None:
    # A resumed run: its first call both checks the held units and looks for HITs a crash left open.
    submitted, run, provider = _set_up_run(mephisto_settings, make_submitted_run, 150)
    hits = _published(fake, provider, run, submitted.units)
    for index, unit in enumerate(submitted.units):
        visit = fake.accept(str(hits[unit.id]), f"AWORKER{index}")
        Agent.update(provider_agent_id=visit.assignment_id).where(Agent.id == unit.agent_id).execute()
    Unit.update(status=UnitStatus.ASSIGNED.value).where(Unit.task_run == run.id).execute()
    leftover = fake.requests("CreateHITWithHITType")[-1].params  # a crash left one HIT more than units
    client = boto3.client("mturk", **fake.client_kwargs())
    extra = client.create_hit_with_hit_type(
        HITTypeId=leftover["HITTypeId"],
        MaxAssignments=1,
        LifetimeInSeconds=3600,
        Question=leftover["Question"],
        RequesterAnnotation=leftover["RequesterAnnotation"],
    )["HIT"]["HITId"]
    resumed = make_provider(mephisto_settings.data_dir)
    listings, hit_reads = len(fake.requests("ListHITs")), len(fake.requests("GetHIT"))
    drifts = resumed.reconcile_units(run, list(Unit.select().where(Unit.task_run == run.id)))

    assert [(d.kind, d.provider_unit_id) for d in drifts] == [(DriftKind.UNKNOWN_HERE, extra)]
    assert len(fake.requests("ListHITs")) - listings == 2  # 151 HITs in 2 pages, listed once, not twice
    assert len(fake.requests("GetHIT")) == hit_reads  # the held units read from that listing


def test_expire_withdraws_another_open_hit_when_the_units_own_was_taken(
    fake, mephisto_settings, make_submitted_run
) -> None:  # type: ignore[no-untyped-def]
    submitted = make_submitted_run(2, provider_type="mturk_sandbox", requester_name="lab")
    run = give_config(submitted.run)
    provider = make_provider(mephisto_settings.data_dir)
    provider.setup_resources(run, WORKER_URL)
    hits = _published(fake, provider, run, submitted.units)
    a, b = submitted.units
    fake.accept(str(hits[a.id]), "AWORKER9")  # the worker took a's HIT (and works on b here)
    Unit.update(status=UnitStatus.COMPLETED.value).where(Unit.id == b.id).execute()
    provider.expire_units([Unit.get_by_id(a.id)])
    assert fake.hit_status(str(hits[b.id])) != "Assignable"  # b's open HIT withdrawn in a's place


def test_review_actions_reach_mturk(fake, mephisto_settings, make_held_unit) -> None:  # type: ignore[no-untyped-def]
    held = make_held_unit(provider_type="mturk_sandbox", requester_name="lab", worker_name="AWORKER2")
    run = give_config(held.unit.task_run)
    provider = make_provider(mephisto_settings.data_dir)
    provider.setup_resources(run, WORKER_URL)
    (hit_id,) = _published(fake, provider, run, [held.unit]).values()
    visit = fake.accept(str(hit_id), "AWORKER2")
    fake.submit(visit.assignment_id, {"assignmentId": visit.assignment_id, "mephisto_submitted": "true"})
    Agent.update(provider_agent_id=visit.assignment_id).where(Agent.id == held.agent.id).execute()
    agent = Agent.get_by_id(held.agent.id)
    before = fake.balance()
    provider.reject_work(agent, "too short")
    assert fake.assignment(visit.assignment_id).state.value == "Rejected"
    provider.approve_work(agent, "fine after all")  # overrides the rejection
    provider.approve_work(agent, "fine after all")  # and again, after a crash: nothing more
    assert fake.assignment(visit.assignment_id).state.value == "Approved"
    provider.pay_bonus(held.worker, Decimal("1.00"), "thanks", held.unit, "bonus-1")
    provider.pay_bonus(held.worker, Decimal("1.00"), "thanks", held.unit, "bonus-1")  # same key: paid once
    assert len(fake.snapshot().bonuses) == 1
    assert before - fake.balance() == Decimal("0.60") + Decimal("1.20")  # reward and bonus, 20% fee each
    provider.block_worker(held.worker, "spam")
    assert fake.is_blocked("AWORKER2")
    provider.unblock_worker(held.worker)
    assert not fake.is_blocked("AWORKER2")
    provider.grant_qualification(held.worker, "trusted", 4)
    type_id = provider.qualification_types().known("trusted")
    assert type_id is not None and fake.qualification_score(type_id, "AWORKER2") == 4
    assert fake.requests("AssociateQualificationWithWorker")[-1].params["SendNotification"] is False
    provider.revoke_qualification(held.worker, "trusted")
    assert fake.qualification_score(type_id, "AWORKER2") is None
    provider.block_worker_for_task(held.worker, "t", "off-topic")
    blocked_type = provider.qualification_types().known("t-blocked")
    assert blocked_type is not None and fake.qualification_score(blocked_type, "AWORKER2") == 1
    assert provider.notify_workers(["AWORKER2"], "Hello", "Thanks for your work") == []
    assert provider.balance() == fake.balance()


def test_cleanup_of_a_run_never_set_up_asks_nothing(fake, mephisto_settings, make_submitted_run) -> None:  # type: ignore[no-untyped-def]
    run = give_config(make_submitted_run(1, provider_type="mturk_sandbox", requester_name="lab").run)
    make_provider(mephisto_settings.data_dir).cleanup_resources(run)
    assert fake.requests() == []


def test_a_profile_instead_of_keys(fake, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from mephisto_provider_mturk.provider import MTurkSandboxProvider
    from mephisto_provider_mturk.testing import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY

    shared = tmp_path / "aws-credentials"
    shared.write_text(
        f"[lab]\naws_access_key_id = {DEFAULT_ACCESS_KEY_ID}\naws_secret_access_key = {DEFAULT_SECRET_ACCESS_KEY}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    assert MTurkSandboxProvider.validate_credentials({"profile": "lab"}) == {"profile": "lab"}
    with pytest.raises(ProviderError, match="AWS profile 'other' cannot be used"):
        MTurkSandboxProvider.validate_credentials({"profile": "other"})


def test_a_made_up_link_frees_its_unit_instead_of_breaking_reconciliation(
    fake, mephisto_settings, make_held_unit
) -> None:  # type: ignore[no-untyped-def]
    held = make_held_unit(provider_type="mturk_sandbox", requester_name="lab", worker_name="AFORGER")
    run = give_config(held.unit.task_run)
    provider = make_provider(mephisto_settings.data_dir)
    provider.setup_resources(run, WORKER_URL)
    forged = {"workerId": "AFORGER", "assignmentId": "MADEUP1", "hitId": "NOSUCHHIT", "turkSubmitTo": fake.endpoint_url}
    assert provider.identify_worker(forged).worker_name == "AFORGER"  # MTurk's parameters are not signed
    Agent.update(provider_agent_id="MADEUP1").where(Agent.id == held.agent.id).execute()
    Unit.update(status=UnitStatus.ASSIGNED.value).where(Unit.id == held.unit.id).execute()
    (drift,) = provider.reconcile_units(run, [Unit.get_by_id(held.unit.id)])
    assert (drift.kind, drift.unit_id) == (DriftKind.ABANDONED_THERE, held.unit.id)


def test_a_task_in_another_currency_is_refused(fake, mephisto_settings, make_submitted_run) -> None:  # type: ignore[no-untyped-def]
    run = give_config(make_submitted_run(1, provider_type="mturk_sandbox", requester_name="lab").run, currency="GBP")
    with pytest.raises(ProviderError, match="MTurk pays in US dollars"):
        make_provider(mephisto_settings.data_dir).setup_resources(run, WORKER_URL)
    assert fake.requests("CreateHITType") == []


def test_expiring_the_same_unit_again_withdraws_no_other_hit(fake, mephisto_settings, make_submitted_run) -> None:  # type: ignore[no-untyped-def]
    submitted = make_submitted_run(2, provider_type="mturk_sandbox", requester_name="lab")
    run = give_config(submitted.run)
    provider = make_provider(mephisto_settings.data_dir)
    provider.setup_resources(run, WORKER_URL)
    hits = _published(fake, provider, run, submitted.units)
    a, b = submitted.units
    Unit.update(status=UnitStatus.ASSIGNED.value).where(Unit.id == b.id).execute()  # its HIT serves someone else
    provider.expire_units([Unit.get_by_id(a.id)])
    provider.expire_units([Unit.get_by_id(a.id)])  # a retried call: a's HIT is withdrawn already
    assert fake.hit_status(str(hits[b.id])) == "Assignable"


def test_work_that_never_reached_mturk_cannot_be_approved_there(fake, mephisto_settings, make_held_unit) -> None:  # type: ignore[no-untyped-def]
    held = make_held_unit(provider_type="mturk_sandbox", requester_name="lab", worker_name="AWORKER5")
    run = give_config(held.unit.task_run)
    provider = make_provider(mephisto_settings.data_dir)
    provider.setup_resources(run, WORKER_URL)
    (hit_id,) = _published(fake, provider, run, [held.unit]).values()
    visit = fake.accept(str(hit_id), "AWORKER5")  # accepted, answer stored here, the page's post never sent
    Agent.update(provider_agent_id=visit.assignment_id).where(Agent.id == held.agent.id).execute()
    with pytest.raises(ProviderError, match="not submitted at MTurk"):
        provider.approve_work(Agent.get_by_id(held.agent.id), "")


def test_a_new_qualification_granted_from_several_threads_at_once_is_one_type(  # type: ignore[no-untyped-def]
    fake, mephisto_settings, monkeypatch
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from mephisto_provider_mturk.qualifications import QualificationTypes

    from mephisto_core.data_model import Worker

    provider = make_provider(mephisto_settings.data_dir)
    workers = [Worker(provider_type="mturk_sandbox", name=f"AWORKER{i}") for i in range(8)]
    fake.set_latency(0.05)  # the calls overlap as a bulk grant's do
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda worker: provider.grant_qualification(worker, "screened", 1), workers))

    (created,) = fake.requests("CreateQualificationType")
    assert created.params["Name"] == "screened"
    type_id = provider.qualification_types().known("screened")
    assert all(fake.qualification_score(type_id, worker.name) == 1 for worker in workers)
    # Another process created the name between this one's look and its create: MTurk refuses the name, and the
    # type found then is used, not shadowed by a suffixed one.
    other = make_provider(mephisto_settings.data_dir / "elsewhere").qualification_types()
    find = QualificationTypes.find
    looks: list[str] = []

    def find_late(self: QualificationTypes, name: str) -> str | None:
        looks.append(name)
        return None if len(looks) == 1 else find(self, name)

    monkeypatch.setattr(QualificationTypes, "find", find_late)
    assert other.ensure("screened") == type_id
    assert [r.params["Name"] for r in fake.requests("CreateQualificationType")] == ["screened", "screened"]
