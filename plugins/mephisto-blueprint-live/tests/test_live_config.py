"""The live blueprint's task-file checks, its page data and its review chat view (no run needed)."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import create_autospec

import pytest
from mephisto_blueprint_live.args import LiveBlueprintArgs
from mephisto_blueprint_live.blueprint import LiveBlueprint
from mephisto_blueprint_live.review import chat_review_html
from pydantic import ValidationError

from mephisto_core.abstractions import TaskArgs
from mephisto_core.errors import ConfigError


def _blueprint(
    folder: Path, world: str | None = "async def run(assignment):\n    pass\n", concurrent: int = 0, **args: object
) -> LiveBlueprint:
    if world is not None:
        (folder / "world.py").write_text(world)
    task = TaskArgs(
        name="live-test",
        title="Talk",
        description="Chat <nicely>.",
        units_per_assignment=2,
        max_num_concurrent_units=concurrent,
    )
    return LiveBlueprint(LiveBlueprintArgs(world="world.py", **args), task, folder)  # type: ignore[arg-type]


@pytest.mark.parametrize("rule", ["end", "wait:30", "wait:2.5"])
def test_disconnect_rules_accepted(rule):
    assert LiveBlueprintArgs(world="w.py", on_partner_disconnect=rule).on_partner_disconnect == rule


@pytest.mark.parametrize("rule", ["wait", "wait:", "wait:-1", "stop", "wait:10s"])
def test_bad_disconnect_rule_is_refused_with_the_forms_it_takes(rule):
    with pytest.raises(ValidationError, match="'end' or 'wait:SECONDS'"):
        LiveBlueprintArgs(world="w.py", on_partner_disconnect=rule)


def test_wait_seconds_read_from_the_rule():
    assert LiveBlueprintArgs(world="w.py", on_partner_disconnect="wait:12").partner_wait_seconds() == 12
    assert LiveBlueprintArgs(world="w.py").partner_wait_seconds() == 0


@pytest.mark.parametrize(
    ("world", "message"),
    [
        (None, "does not exist"),
        ("def run(assignment):\n    pass\n", "must define `async def run"),
        ("import no_such_module_here\n", "ModuleNotFoundError"),
        ("async def other():\n    pass\n", "must define `async def run"),
    ],
)
def test_world_module_problems_name_the_key(tmp_path, world, message):
    with pytest.raises(ConfigError, match=message) as caught:
        _blueprint(tmp_path, world).check()
    assert caught.value.key == "blueprint.world"


def test_data_lines_become_assignments_and_bad_lines_are_located(tmp_path):
    (tmp_path / "topics.jsonl").write_text('{"topic": "books"}\n\n{"topic": "films"}\n')
    assert list(_blueprint(tmp_path, data_jsonl="topics.jsonl").iter_assignments()) == [
        {"topic": "books"},
        {"topic": "films"},
    ]
    (tmp_path / "topics.jsonl").write_text('{"topic": "books"}\n[1]\n')
    with pytest.raises(ConfigError, match="line 2 must be a JSON object") as caught:
        _blueprint(tmp_path, data_jsonl="topics.jsonl").check()
    assert caught.value.key == "blueprint.data_jsonl" and caught.value.line == 2
    assert list(_blueprint(tmp_path, num_assignments=3).iter_assignments()) == [{}, {}, {}]


def test_page_data_and_build(tmp_path):
    blueprint = _blueprint(tmp_path, task_description="Talk about <b>books</b>")
    data = blueprint.init_data({"topic": "books"}, 1)
    assert data == {
        "title": "Talk",
        "description": "Talk about <b>books</b>",
        "agents": 2,
        "task_data": {"topic": "books"},
        "seat": 1,
    }
    blueprint.build(tmp_path / "build")
    index = (tmp_path / "build" / "index.html").read_text()
    assert "/mephisto-task.js" in index and "live-chat.js" in index
    assert (tmp_path / "build" / "live-chat.js").stat().st_size > 1000


def test_review_shows_the_transcript_as_a_chat_with_text_escaped():
    outputs = {
        "episode": "completed",
        "turns": 2,
        "transcript": [
            {"seq": 1, "sender": None, "to": "Worker 1", "data": {"text": "Welcome"}, "sent_at": "x"},
            {"seq": 2, "sender": "Worker 1", "to": None, "data": {"text": "<script>hi</script>"}, "sent_at": "x"},
        ],
    }
    shown = chat_review_html(outputs)
    assert shown is not None
    assert "Task → Worker 1" in shown and "Welcome" in shown
    assert "&lt;script&gt;hi&lt;/script&gt;" in shown and "<script>hi" not in shown
    assert "Episode: completed · 2 messages" in shown and "&quot;turns&quot;: 2" in shown
    assert chat_review_html({"answer": 1}) is None


def test_live_session_is_made_from_the_world_module_and_other_blueprints_have_none(tmp_path):
    from mephisto_blueprint_live.session import LiveRuntime

    from mephisto_core.abstractions import Blueprint, LivePages

    # Making a session only keeps the pages for later; the operator's implementation needs a running launch.
    pages = create_autospec(LivePages, instance=True)
    blueprint = _blueprint(tmp_path, on_partner_disconnect="wait:5", waiting_room_seconds=9)
    session = blueprint.live_session(pages)
    assert isinstance(session, LiveRuntime) and session.needed == 2 and session.args.partner_wait_seconds() == 5
    assert Blueprint.live_session(blueprint, pages) is None  # the base class: no live messages taken
    (tmp_path / "world.py").write_text("x = (\n")
    with pytest.raises(ConfigError, match="SyntaxError"):
        blueprint.live_session(pages)


def test_waiting_for_a_partner_longer_than_the_grace_period_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"longer than task.disconnect_grace_seconds \(30 s\)") as caught:
        _blueprint(tmp_path, on_partner_disconnect="wait:31").check()
    assert caught.value.key == "blueprint.on_partner_disconnect"
    _blueprint(tmp_path, on_partner_disconnect="wait:30").check()


def test_offering_fewer_units_at_once_than_seats_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"is 1, fewer than units_per_assignment \(2\)") as caught:
        _blueprint(tmp_path, concurrent=1).check()
    assert caught.value.key == "task.max_num_concurrent_units"
    _blueprint(tmp_path, concurrent=2).check()
