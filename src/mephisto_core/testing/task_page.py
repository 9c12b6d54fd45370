"""For page tests that stand in for the protocol part of `/mephisto-task.js`: the real `mephisto.taskPage` block.

A blueprint's page test may serve its own `window.mephisto` (recording what the page submits) instead of the
real client, which needs a router and an operator. Its pages still use `mephisto.taskPage`; appending this
block to the stand-in gives them the real helpers, so the test exercises the code workers' browsers run.
"""

from __future__ import annotations

from importlib import resources

BEGIN_MARKER = "/* ---- mephisto.taskPage: begin ----"
END_MARKER = "/* ---- mephisto.taskPage: end ---- */"


def task_page_helpers_js() -> str:
    """The `mephisto.taskPage` block of the packaged mephisto-task.js; load it after the stand-in `window.mephisto`.

    The block uses `window.mephisto.ready`, `initialTaskData`, `isPreview`, `alreadySubmitted`, `handleSubmit`,
    `showMessage` and `nextUnit`, so the stand-in provides those.
    """
    source = resources.files("mephisto_core.router").joinpath("static/mephisto-task.js").read_text("utf-8")
    start = source.find(BEGIN_MARKER)
    end = source.find(END_MARKER)
    if start < 0 or end < start:
        raise RuntimeError("mephisto-task.js has lost its mephisto.taskPage markers; restore them")
    return source[start : end + len(END_MARKER)] + "\n"
