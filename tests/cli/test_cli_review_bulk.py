"""`mephisto review approve | reject | soft-reject | bonus` on a real SQLite database, the mock provider paying:
units named by id, by file or by the export's filters, a confirmation before anything moves, one line per refused
unit and exit status 1, JSON lines for scripts, and a second run that finishes what the first left."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from click.testing import Result

from mephisto_core.cli import review_bulk_cmds
from mephisto_core.data_model import Review, ReviewKind, Unit, UnitStatus, open_database
from mephisto_core.data_model.payments import Payment
from mephisto_core.settings import Settings
from mephisto_core.testing.runs import SubmittedRun

RunCli = Callable[..., Result]
T = TypeVar("T")


@pytest.fixture
def submitted(make_submitted_run: Callable[..., SubmittedRun]) -> SubmittedRun:
    return make_submitted_run(6, task_name="survey")


def _read(settings: Settings, query: Callable[[], T]) -> T:
    """`query()` on the test's database, opened anew: each command closes the one it used."""
    database = open_database(None, settings.sqlite_path)
    try:
        return query()
    finally:
        database.close()


def _statuses(settings: Settings) -> list[str]:
    return _read(settings, lambda: [unit.status for unit in Unit.select().order_by(Unit.id)])


def _payments(settings: Settings) -> list[Payment]:
    return _read(settings, lambda: list(Payment.select().order_by(Payment.id)))


def test_approve_by_task_decides_those_awaiting_review_and_a_second_run_finds_none(
    mephisto_settings: Settings, run_cli: RunCli, submitted: SubmittedRun
) -> None:
    first = submitted.units[0].id
    assert run_cli("review", "reject", str(first), "--feedback", "off topic", "--yes").exit_code == 0

    approved = run_cli("review", "approve", "--task", "survey", "--feedback", "thanks", "--yes")

    assert approved.exit_code == 0, approved.output
    assert "approve: 5 done, 0 refused." in approved.stderr
    assert _statuses(mephisto_settings) == [UnitStatus.REJECTED.value] + [UnitStatus.ACCEPTED.value] * 5
    approvals = (Review.kind == ReviewKind.APPROVE.value) & (Review.reviewer == "review-command")
    assert _read(mephisto_settings, lambda: Review.select().where(approvals).count()) == 5
    assert {p.status for p in _payments(mephisto_settings)} == {"paid"}
    again = run_cli("review", "approve", "--task", "survey", "--yes")
    assert again.exit_code == 0 and "approve: no unit matches; nothing done." in again.stderr


def test_refused_units_are_named_and_the_exit_status_says_so(
    mephisto_settings: Settings, run_cli: RunCli, submitted: SubmittedRun
) -> None:
    ids = [str(unit.id) for unit in submitted.units[:3]]
    assert run_cli("review", "approve", ids[1], "--yes").exit_code == 0

    result = run_cli("review", "soft-reject", *ids, "999999", "--yes")

    assert result.exit_code == 1
    assert f"unit {ids[1]}:" in result.stderr and "unit 999999:" in result.stderr
    assert "soft-reject: 2 done, 2 refused." in result.stderr
    assert _statuses(mephisto_settings)[:3] == [
        UnitStatus.SOFT_REJECTED.value,
        UnitStatus.ACCEPTED.value,
        UnitStatus.SOFT_REJECTED.value,
    ]


def test_a_reason_many_units_share_is_said_once(
    mephisto_settings: Settings,
    run_cli: RunCli,
    make_submitted_run: Callable[..., SubmittedRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mephisto_core.abstractions.no_platform import NoPlatformProvider
    from mephisto_core.errors import ProviderError

    def too_short(self: object, agent: object, feedback: str) -> None:
        raise ProviderError("the platform wants a rejection message of at least 100 characters")

    monkeypatch.setattr(NoPlatformProvider, "reject_work", too_short)
    units = make_submitted_run(13, task_name="long").units
    result = run_cli("review", "reject", "--task", "long", "--feedback", "no", "--yes")
    assert result.exit_code == 1
    refusals = [line for line in result.stderr.splitlines() if "100 characters" in line]
    shown = ", ".join(str(unit.id) for unit in units[:10])
    assert refusals == [
        f"units {shown} and 3 more: provider 'mock' refused to reject work: the platform wants a rejection message "
        "of at least 100 characters"
    ]


def test_json_lines_for_a_script_and_ids_read_from_standard_input(
    mephisto_settings: Settings, run_cli: RunCli, submitted: SubmittedRun
) -> None:
    ids = [unit.id for unit in submitted.units[:2]]
    listing = f"# chosen by my quality check\n{ids[0]}\n\n{ids[1]}\n{ids[0]}\n"

    result = run_cli("review", "approve", "--units-from", "-", "--json", "--yes", input=listing)

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [{"unit_id": unit_id, "action": "approve", "error": None} for unit_id in ids]


def test_a_bonus_by_filters_pays_each_worker_once_however_often_it_is_run(
    mephisto_settings: Settings, run_cli: RunCli, submitted: SubmittedRun
) -> None:
    bob_units = [unit.id for index, unit in enumerate(submitted.units) if index % 3 == 1]
    for _ in range(2):
        result = run_cli(
            "review", "bonus", "--task", "survey", "--worker", "bob", "--amount", "0.5", "--reason", "thorough", "--yes"
        )
        assert result.exit_code == 0, result.output
    assert sorted(p.unit_id for p in _payments(mephisto_settings)) == bob_units
    assert {(p.kind, str(p.amount)) for p in _payments(mephisto_settings)} == {("bonus", "0.50")}
    keyed = run_cli(
        "review", "bonus", str(bob_units[0]), "--amount", "0.5", "--reason", "thorough", "--key", "2nd", "--yes"
    )
    assert keyed.exit_code == 0 and len(_payments(mephisto_settings)) == len(bob_units) + 1


def test_a_dry_run_changes_nothing_and_lists_the_units(
    mephisto_settings: Settings, run_cli: RunCli, submitted: SubmittedRun
) -> None:
    result = run_cli("review", "approve", "--task", "survey", "--dry-run", "--json")
    assert result.exit_code == 0
    assert [json.loads(line)["unit_id"] for line in result.stdout.splitlines()] == [u.id for u in submitted.units]
    assert "6 unit(s) would be acted on" in result.stderr
    assert set(_statuses(mephisto_settings)) == {UnitStatus.COMPLETED.value}


@pytest.mark.parametrize(
    ("args", "input", "message"),
    [
        (["approve"], None, "name the units: unit ids, --units-from FILE, or filters"),
        (["approve", "1", "--task", "survey", "--yes"], None, "name units by id or by filters"),
        (["approve", "--task", "nope", "--yes"], None, "task 'nope': there is no task with that name"),
        (
            ["approve", "--task", "survey", "--status", "finished", "--yes"],
            None,
            "status 'finished' is not a unit status",
        ),
        (["approve", "--task", "survey"], "", "add --yes to confirm"),
        (["approve", "--units-from", "-", "--yes"], "12\nseven\n", "line 2 of <stdin> is 'seven', not a unit id"),
        (["reject", "--task", "survey", "--feedback", " ", "--yes"], None, "the workers are told why"),
        (["bonus", "--task", "survey", "--amount", "lots", "--reason", "x", "--yes"], None, "is not a number"),
        (["bonus", "--task", "survey", "--amount", "1", "--reason", " ", "--yes"], None, "write one"),
    ],
)
def test_bad_input_is_refused_before_anything_changes(
    mephisto_settings: Settings,
    run_cli: RunCli,
    submitted: SubmittedRun,
    args: list[str],
    input: str | None,
    message: str,
) -> None:
    result = run_cli("review", *args, input=input)
    assert result.exit_code != 0
    assert message in result.output
    assert set(_statuses(mephisto_settings)) == {UnitStatus.COMPLETED.value}
    assert _payments(mephisto_settings) == []


def test_in_a_terminal_it_asks_first(
    mephisto_settings: Settings, run_cli: RunCli, submitted: SubmittedRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(review_bulk_cmds, "_in_terminal", lambda: True)
    declined = run_cli("review", "approve", "--task", "survey", input="n\n")
    assert declined.exit_code == 1 and "Approve 6 unit(s)? [y/N]" in declined.output
    assert set(_statuses(mephisto_settings)) == {UnitStatus.COMPLETED.value}
    accepted = run_cli("review", "approve", "--task", "survey", input="y\n")
    assert accepted.exit_code == 0 and set(_statuses(mephisto_settings)) == {UnitStatus.ACCEPTED.value}
    paid = run_cli("review", "bonus", "--task", "survey", "--amount", "0.25", "--reason", "thanks", input="y\n")
    assert "Pay a bonus of 0.25 on each of 6 unit(s), 1.50 in all before the platform's fees? [y/N]" in paid.output
    assert paid.exit_code == 0 and len(_payments(mephisto_settings)) == 12


def test_many_units_go_in_chunks_with_progress(
    mephisto_settings: Settings,
    run_cli: RunCli,
    make_submitted_run: Callable[..., SubmittedRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_submitted_run(7, task_name="big")
    monkeypatch.setattr(review_bulk_cmds, "UNITS_PER_CHUNK", 3)
    result = run_cli("review", "approve", "--task", "big", "--yes")
    assert result.exit_code == 0
    assert [line for line in result.stderr.splitlines() if "units..." in line] == [
        "approve: 3 of 7 units...",
        "approve: 6 of 7 units...",
        "approve: 7 of 7 units...",
    ]
    assert set(_statuses(mephisto_settings)) == {UnitStatus.ACCEPTED.value}


def test_the_review_app_still_opens_without_a_subcommand(
    mephisto_settings: Settings, run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("review", "--port", "70000")
    assert result.exit_code == 2 and "--port" in result.output
