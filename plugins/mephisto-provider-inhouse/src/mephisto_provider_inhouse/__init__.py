"""The `inhouse` crowd provider: lab studies with known people, each logged in by a personal secret link.

Importing this package is cheap; the provider class lives in `mephisto_provider_inhouse.provider` and the
`mephisto inhouse` commands in `mephisto_provider_inhouse.cli`.
"""

from mephisto_provider_inhouse.ledger import ledger_path, read_ledger
from mephisto_provider_inhouse.links import personal_link
from mephisto_provider_inhouse.roster import RosterWorker, read_roster, roster_path

__all__ = ["RosterWorker", "ledger_path", "personal_link", "read_ledger", "read_roster", "roster_path"]
