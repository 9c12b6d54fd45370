"""Launch the system's Chromium through playwright, for tests that drive real task pages.

Never lets playwright download a browser: tests use Debian's /usr/bin/chromium, so they run offline and on the
same browser build every time.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",  # tests run as root in containers, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)


class BrowserUnavailable(RuntimeError):
    """Chromium or playwright is not installed; the message says what to install."""


def check_browser_available(executable: Path = CHROMIUM_PATH) -> None:
    """Raise BrowserUnavailable, naming what to install, unless playwright and Chromium are both present."""
    if not executable.is_file():
        raise BrowserUnavailable(f"{executable} not found: install Chromium (Debian/Ubuntu: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise BrowserUnavailable(
            "the playwright package is missing: pip install playwright (or mephisto-core[test]); "
            "no browser download is needed"
        ) from exc


def launch_chromium(playwright: Playwright, *, executable: Path = CHROMIUM_PATH, headless: bool = True) -> Browser:
    """Start the system Chromium with flags that make it quiet, offline and container-safe."""
    check_browser_available(executable)
    return playwright.chromium.launch(
        executable_path=str(executable),
        args=list(CHROMIUM_ARGS),
        headless=headless,
    )
