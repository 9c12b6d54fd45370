"""The router's file answers: gzipped for clients that accept it, revalidated by entity tag (304), and what is
never compressed or kept by the browser."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from router_helpers import http_request, running_router

from mephisto_core.router.http_encoding import accepts_gzip, entity_tag, etag_matches, gzip_variant
from mephisto_core.router.static_files import StaticFile

# A script of the size of a task's own (a few kB), as text compresses.
SCRIPT = b"".join(b"function step%d(answer) { return answer.trim().length > %d; }\n" % (i, i) for i in range(200))
PAGE = b"<!doctype html><title>task</title>" + b"<p>Read the sentence and pick a label.</p>\n" * 100
GZIP = "Accept-Encoding: gzip, deflate, br, zstd\r\n"


@pytest.fixture
def files(build_dir: Path) -> Path:
    (build_dir / "task.js").write_bytes(SCRIPT)
    (build_dir / "index.html").write_bytes(PAGE)
    (build_dir / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 4000)
    (build_dir / "noise.txt").write_bytes(os.urandom(4000))  # nothing to compress away
    return build_dir


async def test_a_script_is_sent_gzipped_to_a_browser_and_as_it_is_to_a_client_that_does_not_ask(files: Path) -> None:
    async with running_router(files) as server:
        packed = await http_request(server.port, "/task.js", extra=GZIP)
        plain = await http_request(server.port, "/task.js")
        refused = await http_request(server.port, "/task.js", extra="Accept-Encoding: gzip;q=0, *\r\n")
    assert packed.status == 200 and packed.headers["content-encoding"] == "gzip"
    assert gzip.decompress(packed.body) == SCRIPT
    assert int(packed.headers["content-length"]) == len(packed.body) < len(SCRIPT) / 3
    assert plain.status == 200 and plain.body == SCRIPT and "content-encoding" not in plain.headers
    assert refused.body == SCRIPT and "content-encoding" not in refused.headers
    for answer in (packed, plain):
        assert answer.headers["vary"] == "Accept-Encoding"
        assert answer.headers["cache-control"] == "no-cache"  # kept, and checked before each use
        assert answer.headers["etag"] == entity_tag(SCRIPT)
        assert "javascript" in answer.headers["content-type"]


async def test_an_unchanged_script_is_a_304_without_its_bytes_and_head_matches_get(files: Path) -> None:
    async with running_router(files) as server:
        first = await http_request(server.port, "/task.js", extra=GZIP)
        tag = first.headers["etag"]
        again = await http_request(server.port, "/task.js?v=1", extra=f"{GZIP}If-None-Match: {tag}\r\n")
        listed = await http_request(server.port, "/task.js", extra=f'If-None-Match: "other", {tag[2:]}\r\n')
        other = await http_request(server.port, "/task.js", extra='If-None-Match: W/"other"\r\n')
        head = await http_request(server.port, "/task.js", method="HEAD", extra=GZIP)
    assert again.status == 304 and again.body == b""
    assert again.headers["etag"] == tag and again.headers["cache-control"] == "no-cache"
    assert "content-length" not in again.headers and "content-encoding" not in again.headers
    assert listed.status == 304  # compared weakly, in a list
    assert other.status == 200 and other.body == SCRIPT
    assert head.status == 200 and head.body == b""
    assert {k: v for k, v in head.headers.items() if k not in ("date", "connection")} == {
        k: v for k, v in first.headers.items() if k not in ("date", "connection")
    }


async def test_the_page_is_gzipped_but_never_kept_nor_revalidated(files: Path) -> None:
    async with running_router(files) as server:
        page = await http_request(server.port, "/?worker_id=alice", extra=GZIP)
        asked = await http_request(server.port, "/", extra=f"{GZIP}If-None-Match: {entity_tag(PAGE)}, *\r\n")
    assert page.status == 200 and gzip.decompress(page.body) == PAGE
    assert page.headers["cache-control"] == "no-store" and "etag" not in page.headers
    assert asked.status == 200 and gzip.decompress(asked.body) == PAGE


async def test_images_small_files_and_what_hardly_compresses_are_sent_as_they_are(files: Path) -> None:
    async with running_router(files) as server:
        image = await http_request(server.port, "/photo.png", extra=GZIP)
        small = await http_request(server.port, "/sub/app.js", extra=GZIP)
        noise = await http_request(server.port, "/noise.txt", extra=GZIP)
    assert image.status == small.status == noise.status == 200
    for answer in (image, small, noise):
        assert "content-encoding" not in answer.headers and "vary" not in answer.headers
        assert "etag" in answer.headers
    assert "content-encoding" not in noise.headers and len(noise.body) == 4000


async def test_the_client_library_is_gzipped_and_revalidated(build_dir: Path) -> None:
    async with running_router(build_dir) as server:
        packed = await http_request(server.port, "/mephisto-task.js", extra=GZIP)
        again = await http_request(
            server.port, "/mephisto-task.js", extra=f"If-None-Match: {packed.headers['etag']}\r\n"
        )
    assert packed.status == 200 and packed.headers["content-encoding"] == "gzip"
    assert b"__MEPHISTO_MAX_UPLOAD_BYTES__" not in gzip.decompress(packed.body)  # the router's limits filled in
    assert len(packed.body) < 20_000 < len(gzip.decompress(packed.body))
    assert packed.headers["cache-control"] == "no-cache"
    assert again.status == 304 and again.body == b""


def test_a_file_changed_between_two_builds_gets_another_tag() -> None:
    before = StaticFile.of(SCRIPT, "text/javascript; charset=utf-8", cacheable=True)
    after = StaticFile.of(SCRIPT + b"\n", "text/javascript; charset=utf-8", cacheable=True)
    assert before.etag != after.etag and before.etag.startswith('W/"')
    assert before.memory_bytes == len(SCRIPT) + len(before.gzipped or b"")


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("GZip", True),
        ("deflate, gzip;q=0.5", True),
        ("x-gzip", True),
        ("br", False),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("*, gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("gzip;q=nonsense", False),
        ("identity", False),
    ],
)
def test_accept_encoding_is_read_as_rfc_9110_says(header: str | None, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ('W/"abc"', True),
        ('"abc"', True),
        ('"x", W/"abc"', True),
        ("*", True),
        ('W/"abcd"', False),
        ("abc", False),
    ],
)
def test_if_none_match_is_compared_weakly(header: str | None, matches: bool) -> None:
    assert etag_matches(header, 'W/"abc"') is matches


def test_only_text_like_types_of_a_useful_size_are_compressed() -> None:
    assert gzip_variant(SCRIPT, "application/javascript; charset=utf-8") is not None
    assert gzip_variant(SCRIPT, "image/svg+xml") is not None
    assert gzip_variant(SCRIPT, "image/png") is None
    assert gzip_variant(SCRIPT[:1000], "text/plain") is None  # under a packet: nothing to gain
    assert gzip_variant(os.urandom(5000), "text/plain") is None  # saves nothing
    packed = gzip_variant(SCRIPT, "text/css")
    assert packed == gzip_variant(SCRIPT, "text/css")  # the same bytes every time (no timestamp)
