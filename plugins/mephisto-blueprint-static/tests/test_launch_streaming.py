"""A launch checks the data as it streams it: the link is served after the first rows, and a bad row later in
the file stops the launch with the error `mephisto check` gives, before any unit of that row exists."""

from __future__ import annotations

import asyncio
import csv
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from mephisto_blueprint_static.blueprint import StaticBlueprint
from static_support import MakeBlueprint

from mephisto_core.cli.check_cmd import build_report
from mephisto_core.data_model import Assignment, Database, TaskRun, Unit
from mephisto_core.errors import ConfigError
from mephisto_core.operations.run.operator import FEED_CHUNK, Operator
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config


def _error(call: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_check_launch_reads_only_the_first_row_and_iteration_stops_at_a_bad_one(
    make_blueprint: MakeBlueprint,
) -> None:
    blueprint = make_blueprint(
        files={"d.jsonl": '{"text": "a"}\n{"text": "b"}\n{"other": "c"}\n{"text": "d"}\n'}, data_jsonl="d.jsonl"
    )
    blueprint.check_launch()  # the first row is fine
    checked = _error(blueprint.check)
    seen: list[dict[str, object]] = []
    with pytest.raises(ConfigError) as streamed:
        for item in blueprint.iter_assignments():
            seen.append(item)
    assert seen == [{"text": "a"}, {"text": "b"}]  # the bad third line is never handed out
    assert str(streamed.value) == str(checked)
    assert (checked.line, checked.key) == (3, "blueprint.data_jsonl")
    assert "line 3 of the data has no 'text'" in str(checked)
    assert str(_error(blueprint.count_assignments)) == str(checked)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"data.csv": "other\nx\n"}, "row 1 (line 2) of the data has no 'text'"),
        ({"data.csv": "text\n"}, "the data file has no rows"),
        ({"data.csv": "text\n\n  \n"}, "the data file has no rows"),
    ],
)
def test_check_launch_reports_what_the_first_row_shows(
    make_blueprint: MakeBlueprint, files: dict[str, str], expected: str
) -> None:
    blueprint = make_blueprint(files=files)
    assert expected in str(_error(blueprint.check_launch))
    assert str(_error(blueprint.check)) == str(_error(blueprint.check_launch))


def _task_with_bad_row(folder: Path, rows: int, bad_row: int) -> Path:
    folder.mkdir()
    (folder / "task.html").write_text("<p>${text}</p><input name='label'>", encoding="utf-8")
    with (folder / "data.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "n"])
        for number in range(1, rows + 1):
            writer.writerow([f"row {number}", number] + (["one too many"] if number == bad_row else []))
    config = {
        "task": {"name": "streamed", "title": "Streamed"},
        "blueprint": {"type": "static", "task_source": "task.html", "data_csv": "data.csv"},
        "architect": {"type": "local", "port": 0},
        "provider": {"type": "mock"},
    }
    path = folder / "task.toml"
    path.write_text(tomli_w.dumps(config), encoding="utf-8")
    return path


def test_a_bad_row_after_the_first_chunk_stops_the_launch_with_the_check_error(
    tmp_path: Path, mephisto_settings: Settings, sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad_row = FEED_CHUNK + 150
    config = load_task_config(_task_with_bad_row(tmp_path / "task", FEED_CHUNK + 300, bad_row))
    checked = _error(lambda: build_report(config, mephisto_settings))
    assert f"row {bad_row} has 3 cells but the header has 2 columns" in str(checked)
    # The rows after the first chunk are read only once the test has seen the link served, so the test does
    # not depend on how fast the launch gets to the bad row.
    rest_may_be_read = threading.Event()
    streamed = StaticBlueprint.iter_assignments

    def gated(self: StaticBlueprint) -> Iterator[dict[str, Any]]:
        for number, item in enumerate(streamed(self)):
            if number == FEED_CHUNK:
                assert rest_may_be_read.wait(30)
            yield item

    monkeypatch.setattr(StaticBlueprint, "iter_assignments", gated)

    async def launch() -> ConfigError:
        operator = Operator(mephisto_settings, sqlite_database)
        run = asyncio.create_task(operator.run(config))
        await asyncio.wait_for(operator.ready.wait(), 30)  # the link is served before the bad row is read
        # Only the first chunk exists when the link is served.
        assert Assignment.select().count() == FEED_CHUNK
        rest_may_be_read.set()
        with pytest.raises(ConfigError) as stopped:
            await asyncio.wait_for(run, 60)
        return stopped.value

    stopped = asyncio.run(launch())
    assert str(stopped) == str(checked)
    # No worker reached the run this launch made: its offered units were withdrawn and the run is gone, so the
    # next launch starts afresh (a failed start leaves no run behind).
    assert TaskRun.select().count() == 0
    assert Assignment.select().count() == 0
    assert Unit.select().count() == 0


@pytest.mark.parametrize(
    "text",
    [
        'text,n\n"a, b",1\n"two\nlines",2\n',
        'text,n\r\n"a, b",1\r\n"two\r\nlines",2',
        'text,n\r"a, b",1\r"two\rlines",2\r',  # old Mac line endings
    ],
    ids=["lf", "crlf-no-final-newline", "lone-cr"],
)
def test_csv_rows_stream_the_same_with_every_line_ending(make_blueprint: MakeBlueprint, text: str) -> None:
    blueprint = make_blueprint(files={"d.csv": text}, data_csv="d.csv")
    blueprint.check()
    newline = "\n" if text.startswith("text,n\n") else "\r\n" if "\r\n" in text else "\r"
    assert list(blueprint.iter_assignments()) == [{"text": "a, b", "n": "1"}, {"text": f"two{newline}lines", "n": "2"}]


def test_a_resumed_launch_that_meets_a_bad_row_withdraws_the_units_it_offered_again(
    tmp_path: Path, mephisto_settings: Settings, sqlite_database: Database
) -> None:
    task = _task_with_bad_row(tmp_path / "task", 10, bad_row=0)  # 10 good rows

    async def launch_and_stop() -> None:
        operator = Operator(mephisto_settings, sqlite_database)
        run = asyncio.create_task(operator.run(load_task_config(task)))
        await asyncio.wait_for(operator.ready.wait(), 30)
        operator.request_stop()
        await asyncio.wait_for(run, 30)

    asyncio.run(launch_and_stop())
    assert [u.status for u in Unit.select()] == ["expired"] * 10
    with (task.parent / "data.csv").open("a", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["row 11", 11], ["row 12", 12, "one too many"]])

    async def resume() -> ConfigError:
        operator = Operator(mephisto_settings, sqlite_database)
        with pytest.raises(ConfigError) as stopped:
            await asyncio.wait_for(operator.run(load_task_config(task)), 30)
        return stopped.value

    assert "row 12 has 3 cells" in str(resume_error := asyncio.run(resume()))
    assert str(resume_error) == str(_error(lambda: build_report(load_task_config(task), mephisto_settings)))
    # The resume offered the 10 expired units again, then withdrew them when the new rows turned out bad.
    assert [u.status for u in Unit.select()] == ["expired"] * 10
