"""The data folder's bonus lock (bonus_lock.py) between real processes: one process pays at a time, its threads
share the lock, and a holder that dies frees it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mephisto_provider_prolific.bonus_lock import BonusFolderLock

from mephisto_core.errors import ProviderError

#: a process that takes the folder's lock, says so, and keeps it until it is killed
_HOLDER = (
    "import sys, time\n"
    "from mephisto_provider_prolific.bonus_lock import BonusFolderLock\n"
    "with BonusFolderLock(sys.argv[1]).held():\n"
    "    print('held', flush=True)\n"
    "    time.sleep(120)\n"
)
#: exit status 0 when the folder's lock is free (taken and left at once), 3 when another process holds it
_PROBE = (
    "import sys\n"
    "from mephisto_provider_prolific.bonus_lock import BonusFolderLock\n"
    "from mephisto_core.errors import ProviderError\n"
    "try:\n"
    "    with BonusFolderLock(sys.argv[1]).held(wait_seconds=0):\n"
    "        pass\n"
    "except ProviderError:\n"
    "    sys.exit(3)\n"
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        yield process
    finally:
        process.kill()
        process.wait(10)


def _probe(folder: Path) -> int:
    return subprocess.run([sys.executable, "-c", _PROBE, str(folder)], timeout=60, check=False).returncode


def test_another_process_paying_is_waited_for_then_refused_naming_it(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    lock = BonusFolderLock(tmp_path)
    started = time.monotonic()
    with pytest.raises(ProviderError) as refused, lock.held(wait_seconds=0.5):
        pytest.fail("the lock another process holds was taken")
    assert time.monotonic() - started >= 0.5
    message = str(refused.value)
    assert f"pid {holder.pid} on " in message and "ask again once it has finished" in message, message
    assert str(tmp_path) in message


def test_a_holder_that_dies_frees_the_lock_at_once(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    assert _probe(tmp_path) == 3
    holder.kill()  # no clean-up of its own: the kernel drops its flock with its files
    holder.wait(10)
    started = time.monotonic()
    with BonusFolderLock(tmp_path).held(wait_seconds=5):
        assert time.monotonic() - started < 1


def test_a_process_waits_for_the_holder_to_finish(tmp_path: Path) -> None:
    lock = BonusFolderLock(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER.replace("time.sleep(120)", "time.sleep(0.6)"), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        with lock.held(wait_seconds=30):
            assert process.wait(5) == 0  # taken only once the other one had finished
    finally:
        process.kill()


def test_the_threads_of_one_process_share_the_lock_and_leave_it_free(tmp_path: Path) -> None:
    lock = BonusFolderLock(tmp_path)
    inside = threading.Barrier(3, timeout=10)
    errors: list[BaseException] = []

    def pay() -> None:
        try:
            with lock.held(wait_seconds=0):
                inside.wait()  # the three are inside at the same time
                inside.wait()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=pay) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert _probe(tmp_path) == 3  # another process is kept out while they pay
    inside.wait()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert _probe(tmp_path) == 0  # and may take it once they have all left
