"""File downloads: the exact bytes of files recorded for the unit, and nothing else."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from review_helpers import task_units

from mephisto_core.data_model import AgentFile, Unit
from mephisto_core.settings import Settings


def _stored(unit_id: int) -> AgentFile:
    unit = Unit.get_by_id(unit_id)
    return AgentFile.get(AgentFile.agent == unit.agent_id)


def test_a_download_serves_the_exact_bytes_as_an_attachment(client, mephisto_settings: Settings) -> None:
    unit = task_units("study")[0]
    stored = _stored(unit.id)
    reply = client.get(f"/api/units/{unit.id}/files/0")
    assert reply.status == 200
    assert reply.body == (mephisto_settings.data_dir / stored.path).read_bytes()
    assert len(reply.body) == stored.size
    assert reply.headers["content-type"] == "image/png"
    assert reply.headers["content-disposition"].startswith('attachment; filename="')
    assert stored.name in reply.headers["content-disposition"]
    # An upload must never run as a page of the app's origin.
    assert reply.headers["content-security-policy"].startswith("sandbox")
    assert reply.headers["x-content-type-options"] == "nosniff"


def test_each_unit_serves_only_its_own_files(client) -> None:
    notes = task_units("notes")
    for unit in notes:
        assert client.get(f"/api/units/{unit.id}/files/0").body == b"note %d" % unit.assignment.inputs["n"]
    first = notes[0]
    missing = client.get(f"/api/units/{first.id}/files/1")
    assert missing.status == 404 and f"unit {first.id} has no file number 1 (it has 1 file)" in missing.error
    assert client.get("/api/units/999/files/0").status == 404


@pytest.mark.parametrize(
    "tail",
    [
        "..%2F..%2Fmephisto.db",
        quote("../../../../etc/passwd", safe=""),
        "%2Fetc%2Fpasswd",
        "0%2F..%2F..",
        "-1",
    ],
)
def test_paths_instead_of_file_numbers_are_refused(client, tail: str) -> None:
    unit = task_units("study")[0]
    reply = client.get(f"/api/units/{unit.id}/files/{tail}")
    assert reply.status == 400
    assert "file number must be a number" in reply.error


def test_traversal_segments_in_the_url_reach_no_file(client) -> None:
    unit = task_units("study")[0]
    reply = client.get(f"/api/units/{unit.id}/files/0/../../../mephisto.db")
    assert reply.status in (400, 404)
    assert not reply.body.startswith(b"SQLite format")


def test_a_record_pointing_outside_the_data_dir_is_not_served(client, mephisto_settings: Settings) -> None:
    unit = task_units("study")[0]
    secret = mephisto_settings.data_dir.parent / "secret.txt"
    secret.write_text("do not serve")
    AgentFile.update(path="../secret.txt").where(AgentFile.agent == unit.agent_id).execute()
    reply = client.get(f"/api/units/{unit.id}/files/0")
    assert reply.status == 404 and "outside the data dir" in reply.error
    assert b"do not serve" not in reply.body
    AgentFile.update(path=str(secret)).where(AgentFile.agent == unit.agent_id).execute()
    absolute = client.get(f"/api/units/{unit.id}/files/0")
    assert absolute.status == 404 and "outside the data dir" in absolute.error


def test_a_recorded_file_missing_from_disk_is_a_404_that_says_so(client, mephisto_settings: Settings) -> None:
    unit = task_units("study")[0]
    (mephisto_settings.data_dir / _stored(unit.id).path).unlink()
    reply = client.get(f"/api/units/{unit.id}/files/0")
    assert reply.status == 404 and "is recorded but missing" in reply.error


def test_a_file_with_a_strange_content_type_is_sent_as_octet_stream(client) -> None:
    unit = task_units("study")[0]
    AgentFile.update(content_type="text/html\r\nX-Evil: 1").where(AgentFile.agent == unit.agent_id).execute()
    reply = client.get(f"/api/units/{unit.id}/files/0")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/octet-stream"
    assert "x-evil" not in reply.headers
