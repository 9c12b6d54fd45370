"""The bytes of the router tests' build dir (see conftest.build_dir), importable under a name no other test
directory uses (`conftest` is ambiguous when several test directories run together)."""

from __future__ import annotations

INDEX_HTML = b"<!doctype html><title>task</title><p>The task page.</p>\n"
APP_JS = b"console.log('asset');\n"
OUTSIDE_SECRET = b"outside the build dir\n"
