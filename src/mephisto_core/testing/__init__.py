"""Test helpers for mephisto-core, its first-party plugins and third-party plugin authors.

The pytest fixtures live in `mephisto_core.testing.pytest_plugin`, which pytest loads by itself through the
`pytest11` entry point once mephisto-core is installed. The modules here import nothing heavy at import time:
psycopg2 and playwright are imported where they are used.
"""

from mephisto_core.testing.args_bounds import unbounded_numeric_fields
from mephisto_core.testing.browser import (
    CHROMIUM_ARGS,
    CHROMIUM_PATH,
    BrowserUnavailable,
    check_browser_available,
    launch_chromium,
)
from mephisto_core.testing.imports import FORBIDDEN_AT_STARTUP, forbidden_startup_imports, modules_imported_by
from mephisto_core.testing.postgres import (
    PostgresServer,
    PostgresStartError,
    PostgresUnavailable,
    create_database,
    drop_database,
    external_server,
    find_postgres_bin_dir,
    new_database_name,
    reset_database,
    running_postgres,
    start_postgres,
    with_database_name,
)
from mephisto_core.testing.runs import (
    HeldUnit,
    SubmittedRun,
    create_held_unit,
    create_submitted_run,
    plugins_registered,
)
from mephisto_core.testing.task_page import task_page_helpers_js

__all__ = [
    "CHROMIUM_ARGS",
    "CHROMIUM_PATH",
    "FORBIDDEN_AT_STARTUP",
    "BrowserUnavailable",
    "HeldUnit",
    "PostgresServer",
    "PostgresStartError",
    "PostgresUnavailable",
    "SubmittedRun",
    "check_browser_available",
    "create_database",
    "create_held_unit",
    "create_submitted_run",
    "drop_database",
    "external_server",
    "find_postgres_bin_dir",
    "forbidden_startup_imports",
    "launch_chromium",
    "modules_imported_by",
    "new_database_name",
    "plugins_registered",
    "reset_database",
    "running_postgres",
    "start_postgres",
    "task_page_helpers_js",
    "unbounded_numeric_fields",
    "with_database_name",
]
