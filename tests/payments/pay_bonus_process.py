"""`python pay_bonus_process.py UNIT_ID AMOUNT REASON CLIENT_KEY`: pay one bonus as the review app would, in a
process of its own (settings and database from the MEPHISTO_* environment, the `paytest` provider registered);
`python pay_bonus_process.py approve UNIT_ID`: approve the unit (its reward is paid);
`python pay_bonus_process.py approve-all UNIT_ID...`: approve them as a bulk approve does (a line per unit).

Prints `paid`, `already paid` or `approved`. The crash tests run it with PAYTEST_KILL_AFTER_PAY=1 to die between the
platform's payment and the ledger's commit, then run it again.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # run as a script: the test plugin sits beside it

from paytest_plugin import PayTestPlugin

from mephisto_core.cli.context import load_settings, open_settings_database
from mephisto_core.data_model import ReviewKind
from mephisto_core.operations.review.actions import ReviewActions
from mephisto_core.testing import plugins_registered


def main(args: list[str]) -> None:
    settings = load_settings()
    database = open_settings_database(settings)
    try:
        with plugins_registered(PayTestPlugin()):
            actions = ReviewActions(database, settings, reviewer="script")
            if args[0] == "approve":
                actions.approve(int(args[1]), "good")
                print("approved", flush=True)
                return
            if args[0] == "approve-all":
                errors = actions.decide_all([int(unit_id) for unit_id in args[1:]], ReviewKind.APPROVE, "good")
                print("\n".join("approved" if error is None else f"refused: {error}" for error in errors), flush=True)
                return
            unit_id, amount, reason, client_key = args
            paid = actions.bonus(int(unit_id), amount, reason, client_key)
        print("paid" if paid else "already paid", flush=True)
    finally:
        database.close()


if __name__ == "__main__":
    main(sys.argv[1:])
