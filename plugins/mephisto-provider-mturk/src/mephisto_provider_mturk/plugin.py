"""Entry point of the `mephisto` plugin group for `mephisto-provider-mturk` (hooks are added as the plugin grows)."""

from __future__ import annotations
