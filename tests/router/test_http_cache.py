"""The router keeps small served files in memory, and answers 503 (not 404) when it cannot read files now."""

from __future__ import annotations

import asyncio
import errno
import time
from pathlib import Path

import pytest
from router_build_files import APP_JS, INDEX_HTML
from router_helpers import http_request, running_router

from mephisto_core.router import http_routes
from mephisto_core.router.static_files import StaticFiles, StaticFileUnavailable


async def test_a_served_page_is_read_once_whatever_each_workers_query(build_dir: Path) -> None:
    async with running_router(build_dir) as server:
        first = await http_request(server.port, "/?worker_id=alice")
        (build_dir / "index.html").unlink()  # from now on only the memory copy can answer
        later = await http_request(server.port, "/?worker_id=bob")
        never_served = await http_request(server.port, "/sub/app.js")
    assert first.status == 200 and later.status == 200 and later.body == INDEX_HTML
    assert never_served.status == 200  # a file not yet served is read from the disk as before


async def test_files_above_the_size_limit_are_read_on_every_request(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_routes, "CACHE_FILE_MAX_BYTES", len(INDEX_HTML) - 1)
    async with running_router(build_dir) as server:
        first = await http_request(server.port, "/")
        (build_dir / "index.html").unlink()
        later = await http_request(server.port, "/")
    assert first.status == 200 and later.status == 404


async def test_the_cache_stops_growing_at_its_total_limit(build_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_routes, "CACHE_TOTAL_MAX_BYTES", len(INDEX_HTML))
    async with running_router(build_dir) as server:
        assert (await http_request(server.port, "/")).status == 200
        assert (await http_request(server.port, "/sub/app.js")).status == 200  # no room left: not kept
        (build_dir / "index.html").unlink()
        (build_dir / "sub" / "app.js").unlink()
        kept = await http_request(server.port, "/")
        dropped = await http_request(server.port, "/sub/app.js")
    assert kept.status == 200 and dropped.status == 404


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE, errno.EIO])
def test_a_read_the_server_cannot_do_now_is_not_a_missing_file(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    def fail(self: Path) -> bytes:
        raise OSError(code, "out of resources")

    monkeypatch.setattr(Path, "read_bytes", fail)
    with pytest.raises(StaticFileUnavailable, match="out of resources"):
        StaticFiles(build_dir).lookup("/")


async def test_out_of_descriptors_is_answered_503_with_retry_after(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def out_of_descriptors(self: StaticFiles, target: str) -> None:
        raise StaticFileUnavailable(f"cannot read {target!r} now: Too many open files")

    monkeypatch.setattr(StaticFiles, "lookup", out_of_descriptors)
    async with running_router(build_dir) as server:
        answer = await http_request(server.port, "/?worker_id=alice")
    assert answer.status == 503
    assert answer.headers["retry-after"] == "5"
    assert b"reload this page" in answer.body
    assert "Too many open files" in caplog.text


def _counted_reads(monkeypatch: pytest.MonkeyPatch, seconds: float = 0.0) -> list[str]:
    """The targets `StaticFiles.lookup` reads from now on, each read taking `seconds` longer."""
    reads: list[str] = []
    real_lookup = StaticFiles.lookup

    def counted(self: StaticFiles, target: str) -> object:
        reads.append(target)
        time.sleep(seconds)
        return real_lookup(self, target)

    monkeypatch.setattr(StaticFiles, "lookup", counted)
    return reads


async def test_a_burst_of_pages_shares_one_read_of_a_file_not_yet_cached(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _counted_reads(monkeypatch, 0.2)  # the read is still under way when the other pages ask
    async with running_router(build_dir) as server:
        reads.clear()  # the task page was read at start (below); the burst asks for a file not read yet
        answers = await asyncio.gather(*(http_request(server.port, "/sub/app.js") for _ in range(40)))
    assert {answer.status for answer in answers} == {200}
    assert {answer.body for answer in answers} == {APP_JS}
    assert reads == ["/sub/app.js"]


async def test_the_task_page_is_in_memory_before_the_first_worker_asks(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A launch's first workers all arrive at once: none of them waits for the page to be read.
    reads = _counted_reads(monkeypatch)
    async with running_router(build_dir) as server:
        read_at_start = list(reads)
        (build_dir / "index.html").unlink()  # only the copy read at start can answer now
        answers = await asyncio.gather(*(http_request(server.port, f"/?worker_id=w{n}") for n in range(5)))
    assert read_at_start == ["/"]
    assert reads == ["/"]
    assert {(answer.status, answer.body) for answer in answers} == {(200, INDEX_HTML)}


async def test_a_shared_read_the_server_cannot_do_now_answers_every_sharer_503(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def out_of_descriptors(self: StaticFiles, target: str) -> None:
        time.sleep(0.2)
        raise StaticFileUnavailable(f"cannot read {target!r} now: Too many open files")

    monkeypatch.setattr(StaticFiles, "lookup", out_of_descriptors)
    async with running_router(build_dir) as server:
        answers = await asyncio.gather(*(http_request(server.port, f"/?worker_id=w{n}") for n in range(10)))
        monkeypatch.undo()  # the next read works again: a failure is never kept
        later = await http_request(server.port, "/")
    assert {answer.status for answer in answers} == {503}
    assert later.status == 200 and later.body == INDEX_HTML


async def test_the_files_a_page_names_are_kept_with_it_and_read_once(build_dir: Path) -> None:
    (build_dir / "index.html").write_bytes(b'<!doctype html><script src="/sub/app.js"></script>')
    async with running_router(build_dir) as server:  # the router reads `/` before any worker asks
        (build_dir / "sub" / "app.js").unlink()  # from now on only the memory copy can answer
        script = await http_request(server.port, "/sub/app.js")
    assert script.status == 200 and script.body == APP_JS
