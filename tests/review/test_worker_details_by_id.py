"""`worker_details_by_id`: a worker's row with their grants in one statement (the review app's unit and worker
screens), telling the same as `worker_details` given the row."""

from __future__ import annotations

from mephisto_core.data_model import Database, GrantedQualification, Qualification, Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION
from mephisto_core.operations.review.worker_stats import worker_details, worker_details_by_id


def test_the_same_details_with_and_without_grants(database: Database) -> None:
    with database.write():
        plain = Worker.create(provider_type="mock", name="plain")
        granted = Worker.create(provider_type="mock", name="granted")
        for name, value in (("skilled", 3), (BLOCK_QUALIFICATION, 1), ("a-first", 0)):
            qualification = Qualification.create(name=name)
            GrantedQualification.create(worker=granted, qualification=qualification, value=value)
    for worker in (plain, granted):
        found = worker_details_by_id(worker.id, recent_reviews=20)
        assert found is not None
        row, details = found
        assert (row.id, row.name, row.provider_type) == (worker.id, worker.name, "mock")
        assert details == worker_details(Worker.get_by_id(worker.id), recent_reviews=20)
    granted_details = worker_details_by_id(granted.id)
    assert granted_details is not None
    assert [q["name"] for q in granted_details[1]["qualifications"]] == sorted(
        ["skilled", BLOCK_QUALIFICATION, "a-first"]
    )
    assert granted_details[1]["summary"]["blocked"] is True
    assert worker_details_by_id(plain.id)[1]["qualifications"] == []  # type: ignore[index]


def test_no_such_worker_is_none(database: Database) -> None:
    assert worker_details_by_id(12345) is None
