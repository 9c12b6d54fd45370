"""Run the fake MTurk as its own process: `python -m mephisto_provider_mturk.testing.fake_server`.

Prints `READY <endpoint_url>` once it listens, then serves until interrupted (SIGINT or SIGTERM).
The default account's keys are printed too, so another process can sign its calls.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .fake import DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, FakeMTurk


def main(argv: list[str] | None = None) -> int:
    """Serve until a signal arrives; the exit status is 0 after a clean stop."""
    parser = argparse.ArgumentParser(description="A local fake of the MTurk requester API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--balance", default="10000.00", help="the default account's prepaid balance")
    parser.add_argument("--require-https", action="store_true", help="refuse http ExternalURLs")
    args = parser.parse_args(argv)
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with FakeMTurk(args.host, args.port, balance=args.balance, require_https=args.require_https) as fake:
        print(f"READY {fake.endpoint_url}", flush=True)
        print(f"ACCESS_KEY_ID {DEFAULT_ACCESS_KEY_ID}", flush=True)
        print(f"SECRET_ACCESS_KEY {DEFAULT_SECRET_ACCESS_KEY}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
