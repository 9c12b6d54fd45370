"""How many SQL statements each screen of the review app sends: each is a round trip to a database on another
machine (about 11 ms each at an 11 ms round trip, where a page of units took 9 of them, docs/performance.md).

The numbers are upper bounds: fewer is welcome, more is a regression to look at. Each call is made twice and the
second one counted, so what the app keeps between calls (agreement, a task's workers) is warm, as when a
reviewer moves between screens.
"""

from __future__ import annotations

import logging

import pytest
from review_helpers import task_units

#: at the stop's start: task list 5, task 8, a page 9, agreement 3, a unit 8, a worker 4
MOST_STATEMENTS = {
    "task list": ("/api/tasks", 3),
    "task": ("/api/tasks/{task}", 3),
    "page of units": ("/api/units?task={task}&limit=50", 6),
    "page by status": ("/api/units?task={task}&status=completed&limit=50", 6),
    "ids of matching units": ("/api/units/ids?task={task}", 1),
    "agreement": ("/api/tasks/{task}/agreement", 1),
    # this unit has uploaded files; the reviews and procedure calls it lacks are not asked for
    "unit": ("/api/units/{unit}", 4),
    "worker": ("/api/workers/{worker}", 2),
}


@pytest.mark.parametrize("screen", list(MOST_STATEMENTS))
def test_a_screen_sends_at_most_its_statements(client, screen: str, caplog: pytest.LogCaptureFixture) -> None:
    study = task_units("study")
    path_template, most = MOST_STATEMENTS[screen]
    path = path_template.format(task=study[0].task_id, unit=study[0].id, worker=study[0].worker_id)
    assert client.get(path).status == 200
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        caplog.clear()
        assert client.get(path).status == 200
        statements = [r.getMessage() for r in caplog.records if r.name == "peewee"]
    assert statements, "no statement was logged: the count would say nothing"
    assert len(statements) <= most, "\n".join(statements)


def test_a_page_of_a_task_that_does_not_exist_is_still_a_404(client) -> None:
    # The task is looked up only when nothing matches: a page with units proves it exists.
    assert client.get("/api/units?task=999999").status == 404
    assert client.get("/api/tasks/999999/agreement").status == 404
