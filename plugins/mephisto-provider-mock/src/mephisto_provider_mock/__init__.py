"""The `mock` crowd provider: a local stand-in for a crowd platform, for trying and testing tasks.

Importing this package is cheap; the provider class lives in `mephisto_provider_mock.provider`.
"""

from mephisto_provider_mock.ledger import ledger_path, read_ledger

__all__ = ["ledger_path", "read_ledger"]
