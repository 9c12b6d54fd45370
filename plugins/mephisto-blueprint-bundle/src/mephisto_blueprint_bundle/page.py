"""The built index.html with the worker client's script tag put first, so window.mephisto exists before any of
the bundle's own scripts (classic or module) runs."""

from __future__ import annotations

import re

CLIENT_SRC = "/mephisto-task.js"
CLIENT_TAG = f'<script src="{CLIENT_SRC}"></script>'
_HEAD_OPEN = re.compile(r"<head(?:\s[^>]*)?>", re.IGNORECASE)
_FIRST_SCRIPT = re.compile(r"<script[\s>]", re.IGNORECASE)
_ALREADY = re.compile(r"<script[^>]*\ssrc=[\"']?/mephisto-task\.js[\"'\s>]", re.IGNORECASE)


class NoPlaceForClient(ValueError):
    """The page has neither a <head> nor a <script> to put the client before."""


def inject_client(page: str) -> str:
    """`page` with the client's script tag right after `<head>` (or before its first script without a head).

    A page that already loads /mephisto-task.js is returned unchanged: the client must run once only.
    """
    if _ALREADY.search(page):
        return page
    head = _HEAD_OPEN.search(page)
    if head is not None:
        return page[: head.end()] + "\n    " + CLIENT_TAG + page[head.end() :]
    script = _FIRST_SCRIPT.search(page)
    if script is not None:
        return page[: script.start()] + CLIENT_TAG + "\n" + page[script.start() :]
    raise NoPlaceForClient("index.html has no <head> and no <script>: there is no app to load")
