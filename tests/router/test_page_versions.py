"""Pages name their scripts and styles by version (`?v=`), and the router lets browsers keep what is asked for by
its current version."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from router_helpers import http_request, running_router

from mephisto_core.router import http_routes
from mephisto_core.router.early_socket import with_early_socket
from mephisto_core.router.http_encoding import entity_tag
from mephisto_core.router.page_versions import requested_version, version_of, versioned_page
from mephisto_core.router.static_files import StaticFile, StaticFiles
from mephisto_core.testing.served_pages import page_as_built

KNOWN = {"/app.js": "aaa", "/sub/style.css": "bbb", "/mephisto-task.js": "ccc", "/live.js": "ddd"}
KEPT = "public, max-age=31536000, immutable"


def _versioned(page: str, page_path: str = "/") -> str:
    return versioned_page(page.encode(), page_path, KNOWN.get).decode()


def test_scripts_and_links_of_this_server_get_their_version() -> None:
    page = (
        '<script src="/mephisto-task.js"></script>\n'
        "<SCRIPT defer SRC='/app.js?x=1'></SCRIPT>\n"
        '<link rel="stylesheet" href="sub/style.css">\n'
        '<script src="live.js"></script>'
    )
    assert _versioned(page) == (
        '<script src="/mephisto-task.js?v=ccc"></script>\n'
        "<SCRIPT defer SRC='/app.js?x=1&v=aaa'></SCRIPT>\n"
        '<link rel="stylesheet" href="sub/style.css?v=bbb">\n'
        '<script src="live.js?v=ddd"></script>'
    )


def test_relative_references_are_resolved_against_the_page() -> None:
    assert _versioned('<link href="style.css" rel="stylesheet">', "/sub/page.html") == (
        '<link href="style.css?v=bbb" rel="stylesheet">'
    )
    assert (
        _versioned('<script src="../app.js"></script>', "/sub/page.html") == '<script src="../app.js?v=aaa"></script>'
    )


def test_what_is_not_a_known_file_of_this_server_stays_as_it_is() -> None:
    untouched = [
        '<script src="https://cdn.example.org/app.js"></script>',
        '<script src="//cdn.example.org/app.js"></script>',
        '<script src="data:text/javascript,1"></script>',
        '<script src="/missing.js"></script>',
        '<script src="/app.js?v=old"></script>',  # a version given by the page's author
        '<script src="/app.js#part"></script>',
        '<script type="application/json" id="rules">{"src": "/app.js"}</script>',
        '<a href="/app.js">the script</a>',  # links to follow are not resources the page loads
        '<img src="/app.js">',
        "<script>const s = '/app.js';</script>",
    ]
    for page in untouched:
        assert _versioned(page) == page


def test_a_request_names_a_version_by_its_v_parameter() -> None:
    assert requested_version("/app.js?v=abc") == "abc"
    assert requested_version("/app.js?x=1&v=abc") == "abc"
    assert requested_version("/app.js?worker_id=v") is None
    assert requested_version("/app.js") is None
    assert version_of('W/"0123abcd"') == "0123abcd"


async def test_the_served_page_names_its_scripts_by_version_and_those_are_kept(build_dir: Path) -> None:
    script = b"console.log('task');\n" * 100
    (build_dir / "task.js").write_bytes(script)
    (build_dir / "index.html").write_bytes(
        b'<!doctype html><script src="/mephisto-task.js"></script><script src="task.js"></script>'
    )
    async with running_router(build_dir) as server:
        page = await http_request(server.port, "/?worker_id=alice")
        names = re.findall(rb'src="([^"]+)"', page.body)
        client, task = (name.decode() for name in names)
        kept = await http_request(server.port, "/" + task, extra="Accept-Encoding: gzip\r\n")
        kept_client = await http_request(server.port, client)
        stale = await http_request(server.port, "/task.js?v=0123")
        plain = await http_request(server.port, "/task.js")
    assert task == f"task.js?v={version_of(entity_tag(script))}"
    assert re.fullmatch(r"/mephisto-task\.js\?v=[0-9a-f]{24}", client), client
    assert page.headers["cache-control"] == "no-store"
    assert kept.status == 200 and gzip.decompress(kept.body) == script and kept.headers["cache-control"] == KEPT
    assert kept_client.status == 200 and kept_client.headers["cache-control"] == KEPT
    # Another version (a page from before a relaunch) or none: the file as it is now, checked before each use.
    for answer in (stale, plain):
        assert answer.body == script and answer.headers["cache-control"] == "no-cache"


async def test_a_page_whose_scripts_cannot_be_versioned_is_served_as_written(build_dir: Path) -> None:
    page = b'<!doctype html><script src="/nowhere.js"></script><script src="https://x.example/a.js"></script>'
    (build_dir / "index.html").write_bytes(page)
    async with running_router(build_dir) as server:
        answer = await http_request(server.port, "/")
    assert answer.status == 200 and answer.body == page


def test_a_served_page_gives_back_its_build_for_tests() -> None:
    built = (
        b'<!doctype html><link rel="stylesheet" href="/sub/style.css?theme=dark">'
        b'<script src="/mephisto-task.js"></script><script src="/app.js"></script>'
    )
    versions = {"/mephisto-task.js": "0" * 24, "/app.js": "1" * 24, "/sub/style.css": "2" * 24}
    served = with_early_socket(versioned_page(built, "/", versions.get))
    assert served != built and b"&v=" + b"2" * 24 in served
    assert page_as_built(served) == built


async def test_a_file_too_large_to_keep_is_not_read_to_name_its_version(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_routes, "CACHE_FILE_MAX_BYTES", 1000)
    (build_dir / "small.js").write_bytes(b"1;" * 100)
    (build_dir / "large.js").write_bytes(b"1;" * 1000)
    (build_dir / "index.html").write_bytes(b'<script src="/small.js"></script><script src="/large.js"></script>')
    async with running_router(build_dir) as server:
        page = await http_request(server.port, "/")
    assert re.findall(rb'src="([^"]+)"', page.body)[1:] == [b"/large.js"]  # after /small.js?v=...
    assert re.match(rb"/small\.js\?v=[0-9a-f]{24}$", re.findall(rb'src="([^"]+)"', page.body)[0])


def test_a_reference_in_utf_8_or_in_no_encoding_at_all_is_handled() -> None:
    names = {"/caf\u00e9.js": "eee"}
    page = '<script src="/caf\u00e9.js"></script>'.encode()
    assert versioned_page(page, "/", names.get) == '<script src="/caf\u00e9.js?v=eee"></script>'.encode()
    latin = b'<script src="/caf\xe9.js"></script>'  # not UTF-8: no file of this server has that name
    assert versioned_page(latin, "/", names.get) == latin


async def test_a_file_the_page_names_twice_is_read_once_to_version_it(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (build_dir / "style.css").write_bytes(b"body { color: black; }\n" * 10)
    (build_dir / "index.html").write_bytes(
        b'<link rel="stylesheet" href="/style.css"><link rel="preload" as="style" href="style.css">'
    )
    reads: list[str] = []
    original = StaticFiles.lookup

    def counted(self: StaticFiles, target: str, max_bytes: int | None = None) -> StaticFile | None:
        reads.append(target)
        return original(self, target, max_bytes)

    monkeypatch.setattr(StaticFiles, "lookup", counted)
    async with running_router(build_dir) as server:
        page = await http_request(server.port, "/")
    assert page.body.count(b"style.css?v=") == 2
    assert reads.count("/style.css") == 1
