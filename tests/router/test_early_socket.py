"""The line the router adds to task pages so that their socket opens while their scripts download."""

from __future__ import annotations

from pathlib import Path

from router_helpers import http_request, running_router

from mephisto_core.router.early_socket import with_early_socket

CLIENT = b'<script src="/mephisto-task.js?v=abc"></script>'


def test_the_line_goes_just_before_the_client_library_and_names_its_address() -> None:
    page = b"<!doctype html><head><meta charset=utf-8></head><body><p>task</p>" + CLIENT + b"</body>"
    changed = with_early_socket(page)
    before, _, after = changed.partition(b"<script>try {")
    assert before == b"<!doctype html><head><meta charset=utf-8></head><body><p>task</p>"
    assert after.endswith(b"</script>" + CLIENT + b"</body>")
    assert b'new URL("ws", new URL("/mephisto-task.js?v=abc", location.href))' in after
    assert b"window.__mephistoEarlySocket = new WebSocket(u.href)" in after


def test_a_relative_or_single_quoted_client_is_found_and_its_src_stays_inside_its_string() -> None:
    changed = with_early_socket(b"<SCRIPT defer src='mephisto-task.js'></SCRIPT>")
    assert changed.startswith(b'<script>try { var u = new URL("ws", new URL("mephisto-task.js", location.href));')
    assert (
        with_early_socket(b'<script src="/mephisto-task.jsx"></script>')
        == b'<script src="/mephisto-task.jsx"></script>'
    )


def test_pages_without_the_client_library_are_left_as_they_are() -> None:
    for page in (b"<p>no scripts</p>", b'<script src="/app.js"></script>', b"<script>mephisto-task.js</script>"):
        assert with_early_socket(page) == page


async def test_the_router_serves_task_pages_with_the_line(build_dir: Path) -> None:
    (build_dir / "index.html").write_bytes(b"<!doctype html><body>" + CLIENT.replace(b"?v=abc", b"") + b"</body>")
    (build_dir / "plain.html").write_bytes(b"<!doctype html><p>instructions</p>")
    async with running_router(build_dir) as server:
        task = await http_request(server.port, "/?worker_id=alice")
        plain = await http_request(server.port, "/plain.html")
    assert task.body.count(b"__mephistoEarlySocket") == 1
    assert task.body.index(b"__mephistoEarlySocket") < task.body.index(b'src="/mephisto-task.js?v=')
    assert plain.body == b"<!doctype html><p>instructions</p>"
