"""Running `mephisto` as a real process in whole-flow tests: the core's shared helpers (mephisto_core.testing), and
the review app opened in Chromium."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mephisto_core.testing.processes import WORKER_LINK as LINK
from mephisto_core.testing.processes import LaunchProcess, ReviewProcess
from mephisto_core.testing.processes import run_mephisto as mephisto

if TYPE_CHECKING:
    from mephisto_provider_mturk.testing import FakeMTurk
    from playwright.sync_api import Browser, Page

__all__ = [
    "LINK",
    "SUBMITTED",
    "LaunchProcess",
    "ReviewProcess",
    "mephisto",
    "registered_fake_mturk",
    "review_app_page",
    "submit_and_wait",
]

#: what a task page says once its answer is stored
SUBMITTED = "Your answer was submitted."


@contextlib.contextmanager
def review_app_page(browser: Browser, link: str, width: int = 1280, height: int = 900) -> Iterator[Page]:
    """The review app opened from its printed link in a new browser window of `width` x `height` pixels, once its
    first page of units is shown (`data-ready`); the window is closed afterwards."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.goto(link)
        expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
        yield page
    finally:
        context.close()


def submit_and_wait(page: Page, timeout_ms: float = 15_000) -> None:
    """Press the task page's Submit button and wait until the page says the answer was stored."""
    page.get_by_role("button", name="Submit").click()
    page.get_by_text(SUBMITTED).wait_for(timeout=timeout_ms)


@contextlib.contextmanager
def registered_fake_mturk(env: dict[str, str]) -> Iterator[FakeMTurk]:
    """A FakeMTurk the `mephisto` subprocesses run with `env` reach, and the requester `lab` registered with its
    account (`mephisto register mturk_sandbox lab ...`)."""
    from mephisto_provider_mturk.client import ENDPOINT_ENV
    from mephisto_provider_mturk.testing import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, FakeMTurk

    with FakeMTurk() as server:
        env[ENDPOINT_ENV] = server.endpoint_url
        registered = mephisto(
            "register",
            "mturk_sandbox",
            "lab",
            f"access_key_id={DEFAULT_ACCESS_KEY_ID}",
            f"secret_access_key={DEFAULT_SECRET_ACCESS_KEY}",
            env=env,
        )
        assert registered.returncode == 0, registered.stdout + registered.stderr
        yield server
