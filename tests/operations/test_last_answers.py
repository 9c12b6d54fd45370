"""LastAnswers: which pages' last answers the run-over notice hands to the router, and what they say."""

from __future__ import annotations

import logging

import pytest

from mephisto_core.abstractions.provider import PageCompletion
from mephisto_core.operations.run.last_answers import LastAnswers
from mephisto_core.operations.run.replies import Assigned, Submitted

PROLIFIC = PageCompletion("https://app.prolific.example/submissions/complete", "GET", {"cc": "C0DE"}, "Back")


def _assigned(agent_id: int) -> Assigned:
    return Assigned(agent_id, agent_id + 100, f"token-{agent_id}", {"text": f"unit {agent_id}"}, seconds_left=250.0)


def _submitted(agent_id: int) -> Submitted:
    return Submitted(f"key-{agent_id}", completion=PROLIFIC)


def _answered(answers: LastAnswers, conn: int, agent_id: int, *, socket_open: bool = True) -> None:
    answers.answered(conn, agent_id, _submitted(agent_id), socket_open=socket_open)


def _handover(answers: LastAnswers) -> list[dict[str, object]]:
    """The handover, with the hello answers the pool would read for the kept agents."""
    return answers.handover({agent_id: _assigned(agent_id) for agent_id in answers.kept()})


def test_the_handover_holds_the_hello_as_submitted_and_the_acknowledgement() -> None:
    answers = LastAnswers()
    _answered(answers, conn=1, agent_id=7)
    (entry,) = _handover(answers)
    assert entry["token"] == "token-7" and entry["submit_key"] == "key-7"
    assert entry["hello"] == {
        "type": "assigned",
        "id": None,
        "agent_id": 7,
        "unit_id": 107,
        "token": "token-7",
        "is_onboarding": False,
        "init_data": {"text": "unit 7"},
        "submitted": True,  # the page is told its unit is submitted, and no time is left to run out
        "seconds_left": None,
        "completion": PROLIFIC.as_message(),  # where it goes next, as after an acknowledgement in time
    }
    assert entry["submitted"] == {
        "type": "submitted",
        "id": None,
        "submit_key": "key-7",
        "next": "done",
        "completion": PROLIFIC.as_message(),
    }


def test_a_page_that_spoke_after_its_answer_or_closed_its_socket_itself_is_not_handed_over() -> None:
    answers = LastAnswers()
    _answered(answers, conn=1, agent_id=1)
    _answered(answers, conn=2, agent_id=2)
    _answered(answers, conn=3, agent_id=3)
    _answered(answers, conn=4, agent_id=4, socket_open=False)  # lost before its answer was sent
    answers.read(1)  # it sent something after the answer: it read it
    answers.read(2)  # it closed its socket itself (the router says the page left)
    answers.lost(3)  # the connection was lost: it may come back
    answers.read(3)  # a later message on that number is another socket's: agent 3 is still handed over
    answers.read(4)
    assert [entry["token"] for entry in _handover(answers)] == ["token-3", "token-4"]
    # An agent the database no longer answers for (none in practice) is left out rather than answered wrongly.
    assert [entry["token"] for entry in answers.handover({3: _assigned(3)})] == ["token-3"]


def test_an_agent_keeps_its_newest_answer_and_the_newest_pages_are_kept(caplog: pytest.LogCaptureFixture) -> None:
    answers = LastAnswers(max_kept=2)
    _answered(answers, conn=1, agent_id=1)
    answers.lost(1)
    answers.answered(5, 1, Submitted("key-again"), socket_open=True)  # back, resent
    _answered(answers, conn=2, agent_id=2)
    _answered(answers, conn=3, agent_id=3)
    with caplog.at_level(logging.WARNING):
        handed = _handover(answers)
    assert [(entry["token"], entry["submit_key"]) for entry in handed] == [("token-2", "key-2"), ("token-3", "key-3")]
    assert "newest 2 pages that had not shown they read them; 1 older ones were not kept" in caplog.text
