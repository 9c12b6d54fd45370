"""Entry point of the `mephisto` plugin group for `mephisto-architect-ec2` (hooks are added as the plugin grows)."""

from __future__ import annotations
