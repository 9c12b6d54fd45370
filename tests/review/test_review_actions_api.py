"""Every action of the JSON API goes through the provider, changes the database and leaves a Review record."""

from __future__ import annotations

from decimal import Decimal

from review_helpers import break_the_mock_provider, is_blocked, ledger, reviews, status_of, task_units

from mephisto_core.data_model import Agent, GrantedQualification, Qualification, Review, TaskRun
from mephisto_core.data_model.payments import Payment
from mephisto_core.data_model.qualifications import granted_value
from mephisto_core.settings import Settings


def test_approve_accepts_the_unit_records_a_review_and_asks_the_provider(client, mephisto_settings: Settings) -> None:
    unit = task_units("study")[0]
    reply = client.post(f"/api/units/{unit.id}/approve", {"feedback": "Nice work"})
    assert reply.status == 200
    assert reply.json["message"] == f"Unit {unit.id} approved."
    shown = reply.json["unit"]
    assert shown["status"] == "accepted"
    assert shown["allowed"] == {"approve": False, "reject": False, "soft_reject": False, "bonus": True}
    assert [r["kind"] for r in shown["review"]] == ["approve"]
    assert status_of(unit.id) == "accepted"
    assert Agent.get_by_id(unit.agent_id).status == "approved"
    (review,) = reviews(unit.id)
    assert (review.kind, review.feedback, review.worker_id, review.reviewer) == (
        "approve",
        "Nice work",
        unit.worker_id,
        "review-app",
    )
    (entry,) = ledger(mephisto_settings)
    assert (entry["action"], entry["unit_id"], entry["feedback"]) == ("approve", unit.id, "Nice work")


def test_reject_with_feedback_rejects_the_unit(client, mephisto_settings: Settings) -> None:
    unit = task_units("study")[1]
    reply = client.post(f"/api/units/{unit.id}/reject", {"feedback": "  The answer is off topic.  "})
    assert reply.status == 200 and reply.json["unit"]["status"] == "rejected"
    # A rejection may still be overturned, nothing else.
    assert reply.json["unit"]["allowed"]["approve"] is True
    assert reply.json["unit"]["allowed"]["reject"] is False
    assert status_of(unit.id) == "rejected"
    (review,) = reviews(unit.id)
    assert (review.kind, review.feedback) == ("reject", "The answer is off topic.")
    assert [e["action"] for e in ledger(mephisto_settings)] == ["reject"]


def test_soft_reject_marks_the_unit_soft_rejected(client, mephisto_settings: Settings) -> None:
    unit = task_units("study")[2]
    reply = client.post(f"/api/units/{unit.id}/soft-reject", {})
    assert reply.status == 200 and reply.json["message"] == f"Unit {unit.id} soft-rejected."
    assert status_of(unit.id) == "soft_rejected"
    assert [r.kind for r in reviews(unit.id)] == ["soft_reject"]
    assert [e["action"] for e in ledger(mephisto_settings)] == ["soft_reject"]


def test_bonus_pays_the_exact_amount_with_its_reason(client, mephisto_settings: Settings) -> None:
    unit = task_units("study")[3]
    reply = client.post(f"/api/units/{unit.id}/bonus", {"amount": "0.75", "reason": "Very detailed"})
    assert reply.status == 200 and reply.json["message"] == f"Bonus of 0.75 paid for unit {unit.id}."
    assert status_of(unit.id) == "completed"  # a bonus is not a verdict
    (review,) = reviews(unit.id)
    assert (review.kind, review.amount, review.feedback) == ("bonus", Decimal("0.75"), "Very detailed")
    assert ledger(mephisto_settings) == []  # money is in the payments ledger, not the mock's file
    (payment,) = Payment.select().where(Payment.kind == "bonus")
    assert (payment.status, payment.amount, payment.reason, payment.unit_id) == (
        "paid",
        Decimal("0.75"),
        "Very detailed",
        unit.id,
    )
    assert client.post(f"/api/units/{unit.id}/bonus", {"amount": 2, "reason": "again"}).status == 200
    assert [r.amount for r in reviews(unit.id)] == [Decimal("0.75"), Decimal("2.00")]


def test_a_bonus_sent_twice_with_its_client_key_pays_once(client) -> None:
    unit = task_units("study")[3]
    body = {"amount": "0.75", "reason": "Very detailed", "client_key": "form-1"}
    assert client.post(f"/api/units/{unit.id}/bonus", body).json["message"] == f"Bonus of 0.75 paid for unit {unit.id}."
    again = client.post(f"/api/units/{unit.id}/bonus", body)
    assert again.status == 200
    assert again.json["message"] == f"Bonus of 0.75 for unit {unit.id} was paid already; nothing more was paid."
    assert [(p.kind, p.amount, p.status) for p in Payment.select()] == [("bonus", Decimal("0.75"), "paid")]
    assert [r.amount for r in reviews(unit.id)] == [Decimal("0.75")]
    other = client.post(f"/api/units/{unit.id}/bonus", {**body, "client_key": "form-2"})
    assert other.status == 200 and Payment.select().count() == 2  # a new form, a new bonus


def test_a_malformed_client_key_is_refused_and_nothing_is_paid(client) -> None:
    unit = task_units("study")[3]
    reply = client.post(f"/api/units/{unit.id}/bonus", {"amount": "1", "reason": "x", "client_key": "a b"})
    assert reply.status == 400 and "client_key must be 1 to 128 letters" in reply.error
    assert Payment.select().count() == 0


def test_block_then_unblock_a_worker(client, mephisto_settings: Settings) -> None:
    worker_id = task_units("study")[0].worker_id
    reply = client.post(f"/api/workers/{worker_id}/block", {"reason": "Copy-pasted answers"})
    assert reply.status == 200 and reply.json["worker"]["blocked"] is True
    assert is_blocked(worker_id)
    again = client.post(f"/api/workers/{worker_id}/block", {"reason": "twice"})
    assert again.status == 409 and "already blocked" in again.error

    reply = client.post(f"/api/workers/{worker_id}/unblock", {})
    assert reply.status == 200 and reply.json["worker"]["blocked"] is False
    assert not is_blocked(worker_id)
    assert client.post(f"/api/workers/{worker_id}/unblock", {}).status == 409

    assert [(r.kind, r.feedback) for r in reviews()] == [("block", "Copy-pasted answers"), ("unblock", "")]
    assert [e["action"] for e in ledger(mephisto_settings)] == ["block", "unblock"]


def test_grant_and_revoke_a_qualification(client) -> None:
    unit = task_units("study")[0]
    worker_id = unit.worker_id
    reply = client.post(
        f"/api/workers/{worker_id}/grant", {"qualification": "careful-writer", "value": 3, "unit_id": unit.id}
    )
    assert reply.status == 200
    assert {"name": "careful-writer", "value": 3} in [
        {"name": q["name"], "value": q["value"]} for q in reply.json["worker"]["qualifications"]
    ]
    assert granted_value(worker_id, "careful-writer") == 3
    grant = Review.get(Review.kind == "grant")
    assert (grant.unit_id, grant.qualification_value, grant.qualification.name) == (unit.id, 3, "careful-writer")
    names = client.get("/api/qualifications").json["qualifications"]
    assert "careful-writer" in [q["name"] for q in names]

    assert client.post(f"/api/workers/{worker_id}/revoke", {"qualification": "careful-writer"}).status == 200
    assert granted_value(worker_id, "careful-writer") is None
    missing = client.post(f"/api/workers/{worker_id}/revoke", {"qualification": "careful-writer"})
    assert missing.status == 404 and "does not hold" in missing.error


def test_approving_a_unit_twice_is_a_conflict_and_the_provider_is_asked_once(
    client, mephisto_settings: Settings
) -> None:
    unit = task_units("study")[0]
    assert client.post(f"/api/units/{unit.id}/approve").status == 200
    second = client.post(f"/api/units/{unit.id}/approve")
    assert second.status == 409
    assert "cannot go from 'accepted' to 'accepted'" in second.error
    assert second.json["kind"] == "conflict"
    assert len(reviews(unit.id)) == 1
    assert len(ledger(mephisto_settings)) == 1


def test_a_rejected_unit_may_be_approved_once_but_not_twice(client) -> None:
    unit = task_units("study")[0]
    assert client.post(f"/api/units/{unit.id}/reject", {"feedback": "wrong"}).status == 200
    assert client.post(f"/api/units/{unit.id}/approve").status == 200
    assert client.post(f"/api/units/{unit.id}/approve").status == 409
    assert client.post(f"/api/units/{unit.id}/reject", {"feedback": "wrong again"}).status == 409
    assert status_of(unit.id) == "accepted"
    assert [r.kind for r in reviews(unit.id)] == ["reject", "approve"]


def test_a_provider_failure_changes_nothing(client, mephisto_settings: Settings) -> None:
    unit = task_units("study")[0]
    break_the_mock_provider(mephisto_settings)
    for path, body in [
        (f"/api/units/{unit.id}/approve", {}),
        (f"/api/units/{unit.id}/reject", {"feedback": "no"}),
        (f"/api/workers/{unit.worker_id}/block", {"reason": "spam"}),
    ]:
        reply = client.post(path, body)
        assert reply.status == 400, path
        assert reply.json["kind"] == "provider"
        assert "provider 'mock'" in reply.error and "could not record" in reply.error
    assert status_of(unit.id) == "completed"
    assert Agent.get_by_id(unit.agent_id).status == "completed"
    assert reviews() == []
    assert not is_blocked(unit.worker_id)
    # The reward's intent stays in the payments ledger as failed, with why (a bonus's failure: tests/payments).
    (payment,) = Payment.select()
    assert (payment.kind, payment.status) == ("reward", "failed") and "could not record" in payment.error


def test_bulk_approve_reports_each_unit(client, mephisto_settings: Settings) -> None:
    first, second, third = task_units("study")[:3]
    assert client.post(f"/api/units/{first.id}/approve").status == 200
    reply = client.post("/api/units/bulk", {"action": "approve", "unit_ids": [first.id, second.id, third.id, 999]})
    assert reply.status == 200
    body = reply.json
    assert (body["action"], body["done"], body["failed"]) == ("approve", 2, 2)
    by_unit = {r["unit_id"]: r for r in body["results"]}
    assert by_unit[first.id]["ok"] is False and "cannot go from 'accepted'" in by_unit[first.id]["error"]
    assert by_unit[second.id] == {
        "unit_id": second.id,
        "ok": True,
        "status": "accepted",
        "message": f"Unit {second.id} approved.",
    }
    assert by_unit[third.id]["ok"] is True
    assert by_unit[999] == {"unit_id": 999, "ok": False, "error": "unit 999 does not exist"}
    assert [status_of(u.id) for u in (first, second, third)] == ["accepted"] * 3
    assert len(ledger(mephisto_settings)) == 3


def test_bulk_reject_and_bonus_apply_to_every_unit(client, mephisto_settings: Settings) -> None:
    units = task_units("study")[:3]
    ids = [u.id for u in units]
    reply = client.post("/api/units/bulk", {"action": "reject", "unit_ids": ids, "feedback": "Too short"})
    assert reply.status == 200 and reply.json["done"] == 3
    assert all(status_of(i) == "rejected" for i in ids)
    reply = client.post("/api/units/bulk", {"action": "bonus", "unit_ids": ids, "amount": "0.10", "reason": "sorry"})
    assert reply.status == 200 and reply.json["done"] == 3
    assert [(r.kind, r.amount) for r in reviews() if r.kind == "bonus"] == [("bonus", Decimal("0.10"))] * 3
    assert [e["action"] for e in ledger(mephisto_settings)] == ["reject"] * 3
    assert sorted(p.unit_id for p in Payment.select().where(Payment.kind == "bonus")) == sorted(ids)


def test_bulk_block_blocks_each_distinct_worker_once(client, mephisto_settings: Settings) -> None:
    units = task_units("study")
    workers = {u.worker_id for u in units}
    reply = client.post("/api/units/bulk", {"action": "block", "unit_ids": [u.id for u in units], "reason": "bots"})
    assert reply.status == 200
    assert reply.json["done"] == len(units) and reply.json["failed"] == 0
    assert all(is_blocked(w) for w in workers)
    blocks = [e for e in ledger(mephisto_settings) if e["action"] == "block"]
    assert sorted(e["worker_id"] for e in blocks) == sorted(workers)
    assert len([r for r in reviews() if r.kind == "block"]) == len(workers)
    assert all(status_of(u.id) == "completed" for u in units)  # blocking is not a verdict on the units


def test_bulk_grant_records_the_first_selected_unit_of_each_worker(client) -> None:
    units = task_units("study")
    reply = client.post(
        "/api/units/bulk", {"action": "grant", "unit_ids": [u.id for u in units], "qualification": "trusted"}
    )
    assert reply.status == 200 and reply.json["failed"] == 0
    qualification = Qualification.get(Qualification.name == "trusted")
    holders = {
        g.worker_id for g in GrantedQualification.select().where(GrantedQualification.qualification == qualification)
    }
    assert holders == {u.worker_id for u in units}
    first_unit_of = {}
    for unit in units:
        first_unit_of.setdefault(unit.worker_id, unit.id)
    assert {r.worker_id: r.unit_id for r in reviews() if r.kind == "grant"} == first_unit_of


def test_a_bonus_past_the_budget_is_refused_with_the_reason(client) -> None:
    unit = task_units("study")[3]
    run = TaskRun.get_by_id(unit.task_run_id)
    capped = {**run.config, "task": {**run.config["task"], "max_budget": "0.01"}}
    TaskRun.update(config=capped).where(TaskRun.id == run.id).execute()
    reply = client.post(f"/api/units/{unit.id}/bonus", {"amount": "1", "reason": "thanks", "client_key": "k"})
    assert reply.status == 400 and reply.json["kind"] == "refused"
    assert "refused the bonus of 1.00" in reply.error and "passing task.max_budget = 0.01 USD" in reply.error
    assert Payment.select().count() == 0 and reviews(unit.id) == []
