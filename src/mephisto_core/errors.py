"""One exception hierarchy for every expected failure; the CLI turns these into readable messages."""

from __future__ import annotations

from pathlib import Path


class MephistoError(Exception):
    """Base of every error a user may see; its message says what went wrong and what to do."""


class ConfigError(MephistoError):
    """A task file, settings file or command-line override is wrong.

    Carries where the problem is (file, dotted key, line) so the message can point at it.
    """

    def __init__(
        self,
        message: str,
        *,
        file: Path | str | None = None,
        key: str | None = None,
        line: int | None = None,
    ) -> None:
        self.file = Path(file) if file is not None else None
        self.key = key
        self.line = line
        self.detail = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file) + (f":{self.line}" if self.line else ""))
        if self.key:
            where.append(f"key '{self.key}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.detail}" if prefix else self.detail


class PluginError(MephistoError):
    """A plugin is missing, broken, or two plugins claim the same type name."""


class DatabaseError(MephistoError):
    """The database cannot be opened, migrated or written."""


class MigrationError(DatabaseError):
    """A schema migration failed; start-up stops rather than running on an older schema."""


class IllegalTransition(MephistoError):
    """A status change that the lifecycle in `data_model.statuses` does not allow."""


class NotFound(MephistoError):
    """A named or numbered entity (task, run, unit, worker, qualification, ...) does not exist."""


class ProviderError(MephistoError):
    """A crowd provider refused or failed an operation (credentials, publish, pay, block, ...)."""
