"""`mephisto qualifications ...` and `mephisto workers ...` on a real SQLite database."""

from __future__ import annotations

import json

from mephisto_core.data_model import GrantedQualification, Qualification, Review, TaskRun, Worker
from mephisto_core.data_model.qualifications import BLOCK_QUALIFICATION, granted_value
from mephisto_core.settings import Settings


def _seed(settings: Settings) -> None:
    """Two workers of the mock provider, and a run of the mock provider to act through."""
    from mephisto_core.data_model import Requester, Task, open_database

    db = open_database(None, settings.sqlite_path)
    try:
        with db.write():
            task = Task.create(name="t", blueprint_type="static")
            requester = Requester.create(name="MOCK_REQUESTER", provider_type="mock")
            TaskRun.create(
                task=task,
                requester=requester,
                blueprint_type="static",
                architect_type="local",
                provider_type="mock",
                config={"provider": {"type": "mock"}},
            )
            Worker.create(provider_type="mock", name="alice")
            Worker.create(provider_type="mock", name="bob")
    finally:
        db.close()


def _db(settings: Settings):  # type: ignore[no-untyped-def]
    from mephisto_core.data_model import open_database

    return open_database(None, settings.sqlite_path)


def test_create_grant_show_revoke_a_qualification(run_cli, mephisto_settings):
    _seed(mephisto_settings)
    assert run_cli("qualifications", "create", "english", "--description", "level").exit_code == 0
    duplicate = run_cli("qualifications", "create", "english")
    assert duplicate.exit_code == 1 and "qualification 'english' already exists" in duplicate.output
    assert run_cli("qualifications", "grant", "english", "alice", "--value", "3").exit_code == 0
    shown = json.loads(run_cli("qualifications", "show", "english", "--json").output)
    assert [(r["worker"], r["value"]) for r in shown] == [("alice", 3)]
    listed = json.loads(run_cli("qualifications", "list", "--json").output)
    assert listed == [{"name": "english", "holders": 1, "description": "level"}]
    assert run_cli("qualifications", "revoke", "english", "alice").exit_code == 0
    again = run_cli("qualifications", "revoke", "english", "alice")
    assert again.exit_code == 1 and "does not hold the qualification 'english'" in again.output
    db = _db(mephisto_settings)
    try:
        assert GrantedQualification.select().count() == 0
        assert [r.kind for r in Review.select().order_by(Review.id)] == ["grant", "platform", "revoke", "platform"]
    finally:
        db.close()


def test_unknown_worker_and_qualification_are_clear_errors(run_cli, mephisto_settings):
    _seed(mephisto_settings)
    missing = run_cli("qualifications", "revoke", "english", "nobody")
    assert missing.exit_code == 1 and "no worker named 'nobody'" in missing.output
    unknown = run_cli("qualifications", "show", "nothing")
    assert unknown.exit_code == 1 and "no qualification named 'nothing'" in unknown.output


def test_block_and_unblock_globally_and_per_task(run_cli, mephisto_settings):
    from mephisto_provider_mock.ledger import read_ledger

    _seed(mephisto_settings)
    assert run_cli("workers", "block", "alice", "--reason", "copied answers").exit_code == 0
    assert run_cli("workers", "block", "bob", "--reason", "x", "--task", "t").exit_code == 0
    listed = json.loads(run_cli("workers", "list", "--blocked", "--json").output)
    assert [w["worker"] for w in listed] == ["alice"]
    shown = json.loads(run_cli("workers", "show", "alice", "--json").output)
    assert shown["summary"]["blocked"] is True and shown["reviews"][0]["feedback"] == "copied answers"
    ledger = read_ledger(mephisto_settings.data_dir / "providers" / "mock")
    assert [entry["action"] for entry in ledger] == ["block"]
    db = _db(mephisto_settings)
    try:
        alice, bob = Worker.get(Worker.name == "alice"), Worker.get(Worker.name == "bob")
        assert granted_value(alice, BLOCK_QUALIFICATION) == 1 and granted_value(bob, "t-blocked") == 1
    finally:
        db.close()
    assert run_cli("workers", "unblock", "alice").exit_code == 0
    assert run_cli("workers", "unblock", "bob", "--task", "t").exit_code == 0
    db = _db(mephisto_settings)
    try:
        assert Qualification.select().count() == 2 and GrantedQualification.select().count() == 0
    finally:
        db.close()
    missing_reason = run_cli("workers", "block", "alice")
    assert missing_reason.exit_code == 2 and "--reason" in missing_reason.output


def test_show_lists_the_latest_reviews_of_a_busy_worker_and_all_of_them_when_asked(run_cli, mephisto_settings):
    _seed(mephisto_settings)
    db = _db(mephisto_settings)
    try:
        with db.write():
            alice = Worker.get(Worker.name == "alice")
            task = TaskRun.get().task
            for index in range(60):
                Review.create(kind="bonus", worker=alice, task=task, amount=index, feedback=f"note {index:02d}")
    finally:
        db.close()
    shown = run_cli("workers", "show", "alice")
    assert shown.exit_code == 0, shown.output
    assert "Worker alice (mock)" in shown.output and "blocked: no" in shown.output
    assert "note 10" in shown.output and "note 59" in shown.output and "note 09" not in shown.output
    assert "the latest 50 of 60 (--reviews 0 shows all)" in shown.output
    every = run_cli("workers", "show", "alice", "--reviews", "0")
    assert "note 00" in every.output and "the latest" not in every.output
    latest = json.loads(run_cli("workers", "show", "alice", "--json", "--reviews", "5").output)
    assert [r["feedback"] for r in latest["reviews"]] == [f"note {i}" for i in range(55, 60)]
    assert latest["review_count"] == 60
    refused = run_cli("workers", "show", "alice", "--reviews", "-1")
    assert refused.exit_code == 2 and "--reviews" in refused.output


def test_many_workers_blocked_granted_revoked_and_unblocked_at_once(run_cli, mephisto_settings):
    _seed(mephisto_settings)
    listing = "# from my quality check\nbob\n\ncarol\nalice\n"
    blocked = run_cli("workers", "block", "alice", "--workers-from", "-", "--reason", "copied", input=listing)
    assert blocked.exit_code == 0, blocked.output
    # alice once, though named twice; carol had not opened a task yet: added, then blocked
    assert blocked.output.count("Blocked alice from every task.") == 1
    assert "carol has not opened a task yet: added as a worker of provider 'mock'." in blocked.output
    listed = json.loads(run_cli("workers", "list", "--blocked", "--json").output)
    assert sorted(w["worker"] for w in listed) == ["alice", "bob", "carol"]

    granted = json.loads(run_cli("qualifications", "grant", "english", "alice", "bob", "--value", "2", "--json").output)
    assert [(row["worker"], row["done"]) for row in granted] == [
        ("alice", "Granted 'english' = 2 to alice."),
        ("bob", "Granted 'english' = 2 to bob."),
    ]
    # carol holds nothing and dave is nobody: both said, the others revoked, exit status 1
    revoked = run_cli("qualifications", "revoke", "english", "alice", "carol", "dave", "bob")
    assert revoked.exit_code == 1
    assert "carol: worker 'carol' does not hold the qualification 'english'" in revoked.output
    assert "dave: no worker named 'dave'" in revoked.output
    assert revoked.output.count("Revoked 'english' from") == 2
    unblocked = run_cli("workers", "unblock", "alice", "bob", "carol", "--json")
    assert unblocked.exit_code == 0 and len(json.loads(unblocked.output)) == 3
    db = _db(mephisto_settings)
    try:
        assert GrantedQualification.select().count() == 0
    finally:
        db.close()
    nobody = run_cli("workers", "block", "--reason", "x")
    assert nobody.exit_code == 2 and "name the workers: WORKER ... or --workers-from FILE" in nobody.output


def test_many_known_workers_are_looked_up_together(run_cli, mephisto_settings, monkeypatch):
    import peewee as pw

    _seed(mephisto_settings)
    db = _db(mephisto_settings)
    try:
        with db.write():
            for index in range(40):
                Worker.create(provider_type="mock", name=f"w{index:02d}")
    finally:
        db.close()
    statements: list[str] = []
    execute_sql = pw.Database.execute_sql

    def counted(self, sql, *args, **kwargs):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute_sql(self, sql, *args, **kwargs)

    monkeypatch.setattr(pw.Database, "execute_sql", counted)
    blocked = run_cli("workers", "block", *[f"w{index:02d}" for index in range(40)], "--reason", "spam")
    assert blocked.exit_code == 0, blocked.output
    by_name = [sql for sql in statements if 'FROM "worker"' in sql and ('"name" IN' in sql or '"name" =' in sql)]
    assert len(by_name) == 1, by_name  # one statement for the 40 names, not one each (41 before)
