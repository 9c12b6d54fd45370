"""Entry point of the `mephisto` plugin group for `mephisto-architect-remote` (hooks are added as the plugin grows)."""

from __future__ import annotations
