"""The router's plain HTTP side: task pages, assets, the client library, health, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from router_build_files import APP_JS, INDEX_HTML, OUTSIDE_SECRET
from router_helpers import FakeOperator, http_request, running_router

from mephisto_core.router.static_files import url_path_parts


@pytest.mark.parametrize("target", ["/", "/?worker_id=alice", "/?a=1&b=%00%ff&c=" + "x" * 4000, "/index.html?x"])
async def test_root_serves_index_html_whatever_the_query(build_dir: Path, target: str) -> None:
    async with running_router(build_dir) as server:
        answer = await http_request(server.port, target)
    assert answer.status == 200
    assert answer.body == INDEX_HTML
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"] == "frame-ancestors *"


async def test_assets_are_served_with_their_content_type(build_dir: Path) -> None:
    async with running_router(build_dir) as server:
        script = await http_request(server.port, "/sub/app.js")
        data = await http_request(server.port, "/sub/data.json?v=2")
        inside_link = await http_request(server.port, "/link-in")
    assert script.status == 200 and script.body == APP_JS
    assert "javascript" in script.headers["content-type"]
    assert script.headers["cache-control"] == "no-cache"  # kept by the browser, checked before each use
    assert data.status == 200 and data.headers["content-type"].startswith("application/json")
    # A symlink that stays inside the build dir is an ordinary file.
    assert inside_link.status == 200 and inside_link.body == APP_JS


@pytest.mark.parametrize(
    "target",
    [
        "/../outside.txt",
        "/sub/../../outside.txt",
        "/%2e%2e/outside.txt",
        "/%2E%2E%2Foutside.txt",
        "/sub/%2e%2e/%2e%2e/outside.txt",
        "/..%2f..%2foutside.txt",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/link-out",
        "/.env",
        "/sub/.%2e/index.html",
        "/sub/./app.js",
        "/sub/",
        "/empty-dir",
        "/missing.html",
        "/index.html%00.js",
        "/sub%5capp.js",
        "/%ff%fe",
        "/" + "a" * 5000,
    ],
)
async def test_paths_outside_or_hidden_in_the_build_dir_are_404(build_dir: Path, target: str) -> None:
    async with running_router(build_dir) as server:
        answer = await http_request(server.port, target)
        still_serving = await http_request(server.port, "/")
    assert answer.status == 404, answer
    assert OUTSIDE_SECRET not in answer.body
    assert still_serving.status == 200


def test_absolute_and_dot_segments_are_refused_before_touching_the_disk() -> None:
    assert url_path_parts("/") == ("index.html",)
    assert url_path_parts("/sub/app.js?x=1#y") == ("sub", "app.js")
    assert url_path_parts("/%2Fetc/passwd") is None
    assert url_path_parts("/sub/%2e%2e/x") is None
    assert url_path_parts("relative") is None


async def test_client_library_is_served_with_the_routers_limits(build_dir: Path) -> None:
    async with running_router(build_dir, max_upload_bytes=12345, max_message_bytes=6789) as server:
        answer = await http_request(server.port, "/mephisto-task.js")
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/javascript; charset=utf-8"
    source = answer.body.decode()
    assert 'Number("12345")' in source and 'Number("6789")' in source
    assert "global.mephisto = api" in source


async def test_health_reports_whether_an_operator_is_connected(build_dir: Path) -> None:
    async with running_router(build_dir) as server:
        alone = await http_request(server.port, "/_health")
        async with FakeOperator(server.channel_url):
            connected = await http_request(server.port, "/_health")
    assert alone.status == 200 and alone.body == b'{"status": "ok", "operator_connected": false, "run_over": false}'
    assert connected.body == b'{"status": "ok", "operator_connected": true, "run_over": false}'


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "BREW"])
async def test_methods_other_than_get_are_405(build_dir: Path, method: str) -> None:
    async with running_router(build_dir) as server:
        answer = await http_request(server.port, "/", method=method)
    assert answer.status == 405
    assert answer.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "extra",
    [
        "X-Big: " + "v" * 8000 + "\r\n",
        "X-Too-Big: " + "v" * 20000 + "\r\n",
        "".join(f"X-{i}: {i}\r\n" for i in range(200)),
        "Authorization: Bearer \xff\xfe\r\n",
        "Cookie: \x01\x02\r\n",
    ],
    ids=["8k-header", "20k-header", "200-headers", "latin1-auth", "control-chars"],
)
async def test_odd_headers_never_stop_the_router(build_dir: Path, extra: str) -> None:
    async with running_router(build_dir) as server:
        odd = await http_request(server.port, "/", extra=extra)
        after = await http_request(server.port, "/")
    # The router may hang up (status 0) on a request it cannot parse; it must keep serving others.
    assert odd.status in {0, 200, 400, 431}
    assert after.status == 200 and after.body == INDEX_HTML


async def test_plain_get_of_the_socket_paths_is_not_a_page(build_dir: Path) -> None:
    async with running_router(build_dir) as server:
        worker = await http_request(server.port, "/ws")
        channel = await http_request(server.port, "/_channel")
    assert worker.status == 426  # Upgrade Required
    assert channel.status == 401
