"""The benchmarks' lean bot (benchmarks/_lean_client.py): its frames, and a short load_e2e run against a real launch.

The lean bot is what `load_e2e.py` measures the server with by default; if it drifted from the protocol the
benchmark would measure errors instead of units, so it is checked here against a real `mephisto launch`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from mephisto_core.testing.browser import BrowserUnavailable, check_browser_available
from mephisto_core.testing.postgres import find_postgres_bin_dir
from mephisto_core.testing.pytest_plugin import unavailable

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _lean_client() -> ModuleType:
    return _benchmark_module("_lean_client")


def _benchmark_module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


class _Bot:
    """What `_Socket` needs of a bot: its loop, handshake bytes, expected accept value and a message sink."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.handshake = b"GET /ws HTTP/1.1\r\n\r\n"
        self.accept = b"expected-accept"
        self.messages: list[bytes] = []

    def on_message(self, socket: Any, payload: bytes) -> None:
        self.messages.append(payload)


def _server_frame(opcode: int, payload: bytes, final: bool = True) -> bytes:
    n = len(payload)
    length = bytes((n,)) if n < 126 else bytes((126,)) + n.to_bytes(2, "big")
    return bytes(((0x80 if final else 0) | opcode,)) + length + payload


def test_client_frames_are_masked_with_the_zero_key_so_the_payload_goes_as_it_is() -> None:
    lean = _lean_client()
    short = lean.client_frame(0x1, b'{"type":"hello"}')
    assert short[:2] == bytes((0x81, 0x80 | 16)) and short[2:6] == b"\0\0\0\0" and short[6:] == b'{"type":"hello"}'
    medium = lean.client_frame(0x1, b"x" * 300)
    assert medium[:4] == bytes((0x81, 0x80 | 126)) + (300).to_bytes(2, "big") and medium[4:8] == b"\0\0\0\0"
    big = lean.client_frame(0x2, b"y" * 70000)
    assert big[:2] == bytes((0x82, 0x80 | 127)) and big[2:10] == (70000).to_bytes(8, "big")


def test_the_socket_reads_split_and_fragmented_messages_answers_pings_and_closes() -> None:
    lean = _lean_client()

    async def scenario() -> tuple[_Bot, _Transport, Any]:
        bot = _Bot(asyncio.get_running_loop())
        socket = lean._Socket(bot)
        transport = _Transport()
        socket.connection_made(transport)
        assert transport.written == [bot.handshake]
        head = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: expected-accept\r\n\r\n"
        first = _server_frame(0x1, b'{"id":1}')
        socket.data_received(head + first[:3])  # the handshake's answer and part of a frame
        socket.data_received(first[3:] + _server_frame(0x9, b"pp"))
        socket.data_received(_server_frame(0x1, b'{"id":', final=False) + _server_frame(0x0, b"2}"))
        socket.data_received(_server_frame(0x1, b"z" * 200))
        socket.data_received(_server_frame(0x8, (1001).to_bytes(2, "big")))
        socket.connection_lost(None)
        return bot, transport, await socket.ended

    bot, transport, close_code = asyncio.run(scenario())
    assert bot.messages == [b'{"id":1}', b'{"id":2}', b"z" * 200]
    assert transport.written[1] == lean.client_frame(0xA, b"pp")  # the pong, masked
    assert transport.written[2] == lean.client_frame(0x8, (1001).to_bytes(2, "big"))  # the close answered
    assert transport.closed and close_code == 1001


def _json_line_of(script: str, *arguments: str) -> dict[str, Any]:
    """Run benchmarks/`script` with `arguments`; the JSON line it printed (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def test_a_short_load_e2e_run_with_the_lean_client_stores_exactly_what_it_saw_acknowledged() -> None:
    result = _json_line_of("load_e2e.py", "--workers", "4", "--units", "20", "--processes", "1")
    assert result["client"] == "lean"
    assert result["db_matches_acks"] is True
    assert result["acknowledged"] == 20 and result["db_completed_agents"] == 20
    assert result["errors"] == 0 and result["bot_crashes"] == []
    phases = result["phases"]
    assert phases["connect_to_data_ms"]["burst"]["n"] == 4
    # The burst's split at the WebSocket's opening: both parts of each bot's first unit, none longer than it.
    opening, hello_to_data = phases["open_page_ms"]["burst"], phases["hello_to_data_ms"]["burst"]
    assert opening["n"] == hello_to_data["n"] == 4
    assert 0 < opening["max"] <= phases["connect_to_data_ms"]["burst"]["max"]
    assert 0 < hello_to_data["max"] <= phases["connect_to_data_ms"]["burst"]["max"]
    # The timeline: every unit's data in some second of it, in order, none slower than the run's slowest.
    timeline = result["timeline"]
    assert sum(row["data"] for row in timeline) == result["connect_to_data_ms"]["n"] == 20
    assert [row["second"] for row in timeline] == sorted({row["second"] for row in timeline})
    assert all(0 < row["connect_to_data_p99_ms"] <= result["connect_to_data_ms"]["max"] for row in timeline)
    assert result["database_server_cpu_s"] is None  # SQLite's work is in the operator's CPU
    # ... and its writes in the operator's. Only their presence is checked: in a 20-unit run the log's frames may
    # all land on pages the launch dirtied moments before, which the kernel does not count again (and a tmpfs
    # counts none). `written_bytes` itself is tested below.
    assert 0 <= result["database_bytes_written_per_unit"] < 1_000_000
    # The opening: every process group's CPU until 99 % of the bots had their first unit.
    opening = phases["opening"]
    assert set(opening["cpu_ms"]) == {"operator", "router", "loadgen", "benchmark_parent"}
    assert 0 < opening["to_p99_first_data_ms"] <= phases["connect_to_data_ms"]["burst"]["max"] + 50
    assert opening["cpu_ms"]["loadgen"] > 0 and opening["cpu_ms"]["operator"] > 0
    assert opening["cpu_ms_total"] == pytest.approx(sum(opening["cpu_ms"].values()), abs=0.5)
    # no order of the work ends an opening sooner than its CPU spread over every core
    assert opening["cpu_floor_ms"] == pytest.approx(opening["cpu_ms_total"] / (os.cpu_count() or 1), abs=0.1)
    assert opening["cpu_floor_ms"] <= opening["to_p99_first_data_ms"] * 1.05 + 10  # samples 10 ms apart
    slices = opening["cores_busy_per_25ms"]  # the same span, cut into 25 ms slices
    assert slices[0]["from_ms"] == 0 and all(set(row) == {"from_ms", *opening["cpu_ms"]} for row in slices)
    # each group's busiest process: the whole group where it is one process (the operator, one router here)
    busiest = opening["busiest_process_cpu_ms"]
    assert set(busiest) == set(opening["cpu_ms"])
    assert busiest["operator"] == opening["cpu_ms"]["operator"] and busiest["router"] == opening["cpu_ms"]["router"]


def test_a_load_e2e_run_with_onboarding_acknowledges_and_stores_each_workers_test() -> None:
    result = _json_line_of("load_e2e.py", "--workers", "4", "--units", "20", "--processes", "1", "--onboarding")
    assert result["onboarding"] is True
    assert result["acknowledged"] == 24 and result["db_completed_agents"] == 24  # 20 units and 4 tests
    assert result["db_matches_acks"] is True
    assert result["errors"] == 0 and result["bot_crashes"] == []


def test_a_load_e2e_run_with_gold_units_acknowledges_and_stores_them_with_the_data_units() -> None:
    result = _json_line_of("load_e2e.py", "--workers", "4", "--units", "20", "--processes", "1", "--gold", "5")
    assert result["gold_every"] == 5
    # each worker's first unit is gold, then every 5th: 4 gold units at least; every data unit done (no bot
    # stopped for wrong gold answers), each gold unit completed beside them
    assert result["acknowledged"] >= 24
    assert result["db_unit_statuses"] == {"completed": result["acknowledged"]}
    assert result["db_matches_acks"] is True
    assert result["errors"] == 0 and result["bot_crashes"] == []


def test_a_load_e2e_run_with_screening_screens_each_workers_first_units_and_does_every_unit() -> None:
    result = _json_line_of("load_e2e.py", "--workers", "4", "--units", "20", "--processes", "1", "--screening", "2")
    assert result["screening_units"] == 2
    assert result["acknowledged"] == 20 and result["db_unit_statuses"] == {"completed": 20}
    assert result["db_matches_acks"] is True
    assert result["errors"] == 0 and result["bot_crashes"] == []


def test_the_lean_answers_of_an_onboarding_page_are_never_reused_for_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    task_folder, loadgen = _benchmark_module("_task_folder"), _benchmark_module("_loadgen")
    task_toml = task_folder.make_task_folder(
        tmp_path, 3, with_files=False, mephisto=[sys.executable, "-m", "mephisto_core.cli"], env=os.environ
    )
    task_folder.add_onboarding(task_toml)
    answer = loadgen.lean_answer(task_toml)
    rng = random.Random(7)
    test_page = {"html": task_folder.ONBOARDING_PAGE}
    unit_page = {"html": (task_toml.parent / "task.html").read_text(encoding="utf-8")}
    assert set(json.loads(answer(test_page, rng, True))) == {"intent"}
    # the pool fills with unit answers and is then drawn from; a test's answer taken into it would fit no unit
    unit_answers = [json.loads(answer(unit_page, rng, False)) for _ in range(3 * loadgen.ANSWER_POOL)]
    assert all("intent" not in outputs and outputs for outputs in unit_answers)
    assert set(json.loads(answer(test_page, rng, True))) == {"intent"}  # a full pool does not answer a test


def test_a_load_e2e_run_with_two_router_processes_spreads_the_opening_over_both() -> None:
    result = _json_line_of(
        "load_e2e.py", "--workers", "30", "--units", "60", "--processes", "1", "--set", "architect.router_processes=2"
    )
    assert result["db_matches_acks"] is True and result["acknowledged"] == 60 and result["errors"] == 0
    assert result["overrides"] == ["architect.router_processes=2"]
    opening = result["phases"]["opening"]
    # 60 connections (a page and a socket per bot) spread by the kernel: both routers worked in the opening
    assert 0 < opening["busiest_process_cpu_ms"]["router"] < opening["cpu_ms"]["router"]


def test_the_cpu_timeline_counts_a_threads_cpu_where_it_was_spent() -> None:
    timeline = _benchmark_module("_cpu_timeline").CpuTimeline(interval_s=0.01)
    timeline.watch("this", [os.getpid()])
    timeline.start()
    time.sleep(0.05)
    busy_from = time.time()
    spent_from = time.thread_time()
    while time.thread_time() - spent_from < 0.2:
        pass  # 0.2 s of CPU, however long the machine takes to give it
    busy_until = time.time()
    time.sleep(0.3)
    idle_until = time.time()
    time.sleep(0.05)
    timeline.stop()
    busy = timeline.cpu_between("this", busy_from, busy_until)
    idle = timeline.cpu_between("this", busy_until, idle_until)
    # interpolation across the 10 ms samples at each end, and the sampler's own reads
    assert busy == pytest.approx(0.2, abs=0.03)
    assert idle < 0.05
    assert timeline.busiest_between("this", busy_from, busy_until) == busy  # one process: the whole group
    assert timeline.cpu_between("this", busy_from - 60, busy_until) is None  # before the first sample


def test_a_short_load_e2e_run_on_postgresql_measures_the_database_servers_cpu() -> None:
    if find_postgres_bin_dir() is None:
        unavailable("PostgreSQL's initdb and pg_ctl are not installed")
    result = _json_line_of("load_e2e.py", "--workers", "4", "--units", "400", "--processes", "1", "--db", "postgresql")
    assert result["db"] == "postgresql" and result["db_matches_acks"] is True
    # The writer's backend claimed and completed 400 units while the bots ran: it used some CPU.
    assert result["database_server_cpu_s"] > 0 and result["database_server_cpu_ms_per_unit"] > 0
    # each claim and submission logs its agent and unit rows and their index entries: some hundreds of bytes
    assert 200 < result["database_wal_bytes_per_unit"] < 100_000
    assert result["database_bytes_written_per_unit"] is None  # the server's log, not the operator's, above


def test_a_load_e2e_run_through_the_latency_relay_reports_the_round_trip_it_got() -> None:
    if find_postgres_bin_dir() is None:
        unavailable("PostgreSQL's initdb and pg_ctl are not installed")
    result = _json_line_of(
        "load_e2e.py",
        "--workers",
        "4",
        "--units",
        "200",
        "--processes",
        "1",
        "--db",
        "postgresql",
        "--db-one-way-ms",
        "3",
    )
    assert result["db_matches_acks"] is True and result["acknowledged"] == 200
    assert result["db_one_way_ms"] == 3.0
    assert 6.0 <= result["db_round_trip_ms"] < 60.0  # 3 ms each way, and the relay's own time
    assert result["db_relay_cpu_s"] > 0


def test_the_latency_relay_delays_each_way_and_keeps_the_order() -> None:
    relay_module = _benchmark_module("_latency_proxy")
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(65536):
                received.append(data)
                conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    relay = subprocess.Popen(
        [
            sys.executable,
            relay_module.__file__,
            "--upstream",
            f"127.0.0.1:{server.getsockname()[1]}",
            "--one-way-ms",
            "25",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert relay.stdout is not None
        client = socket.create_connection(("127.0.0.1", int(relay.stdout.readline())), timeout=10)
        with client:
            started = time.perf_counter()
            client.sendall(b"ping")
            assert client.recv(16) == b"ping"
            assert time.perf_counter() - started >= 0.05  # 25 ms there and 25 ms back
            pieces = [f"{i:04d}".encode() for i in range(500)]
            for piece in pieces:
                client.sendall(piece)
            echoed = b""
            while len(echoed) < 2000:
                echoed += client.recv(65536)
            assert echoed == b"".join(pieces)
            client.shutdown(socket.SHUT_WR)
            assert client.recv(16) == b""  # the end of one side reaches the other, and comes back
    finally:
        relay.terminate()
        assert relay.wait(10) == 0
        server.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "maximum_units_per_worker"], "--set 'maximum_units_per_worker': write SECTION.KEY=VALUE"),
        (["--db-one-way-ms", "1"], "--db-one-way-ms needs --db postgresql and at least 0, got 1.0"),
        (["--gold", "0"], "--gold must be at least 1, got 0"),
        (["--screening", "0"], "--screening must be at least 1, got 0"),
    ],
)
def test_load_e2e_refuses_bad_arguments_with_what_to_write(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "load_e2e.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_page_loads_compares_kept_alive_connections_with_one_per_request() -> None:
    result = _json_line_of("page_loads.py", "--loads", "20", "--clients", "2", "--rounds", "1")
    assert result["tls"] is True
    for way in ("keep_alive", "connection_per_request"):
        assert result[way]["page_load_ms"]["p50"] > 0


def test_page_loads_counts_the_bytes_of_a_first_visit_a_return_visit_and_a_client_without_gzip() -> None:
    short = ("--loads", "10", "--clients", "2", "--rounds", "1", "--no-tls")
    gzipped = _json_line_of("page_loads.py", *short)["keep_alive"]["bytes_per_page_load"]
    plain = _json_line_of("page_loads.py", *short, "--accept-encoding", "")["keep_alive"]["bytes_per_page_load"]
    kept = _json_line_of("page_loads.py", *short, "--return-visit")["keep_alive"]["bytes_per_page_load"]
    # the client library is ~40 kB as it is and ~12 kB gzipped; a browser that kept it gets a 304 and no body
    assert plain > 2.5 * gzipped and gzipped > 5 * kept > 0, (plain, gzipped, kept)


@pytest.mark.parametrize("template", ["form", "static"])
def test_page_open_browser_times_a_first_and_a_return_visit_in_chromium(template: str) -> None:
    try:
        check_browser_available()
    except BrowserUnavailable as exc:
        unavailable(str(exc))
    result = _json_line_of(
        "page_open_browser.py", "--loads", "2", "--rounds", "1", "--rtt-ms", "100", "--template", template
    )
    head = result["medians"]["head"]
    # the return visit keeps the scripts (304s): a fraction of the bytes of the first
    assert 0 < head["return"]["bytes"] < head["first"]["bytes"] / 2, head
    # page, script and socket each wait for the emulated round trip at least once
    assert head["first"]["ms"] > 300 and head["return"]["ms"] > 200, head
    assert result["ratios_to_reference"]["head"]["first"] == {"ms": 1.0, "bytes": 1.0}


def test_review_100k_times_every_screen_of_two_installs_on_one_database() -> None:
    mephisto = Path(sys.executable).parent / "mephisto"
    result = _json_line_of("review_100k.py", "--units", "300", "--repeats", "1", "--server", f"again={mephisto}")
    medians = result["median_ms"]
    assert set(medians) == {"this", "again"} and set(medians["this"]) == set(medians["again"])
    assert all(ms > 0 for by_call in medians.values() for ms in by_call.values()), medians
    assert set(result["ratios_against"]["ratios"]["again"]) == set(medians["this"])


def test_review_bulk_mturk_times_a_bulk_approve_of_two_installs() -> None:
    mephisto = Path(sys.executable).parent / "mephisto"
    result = _json_line_of("review_bulk_mturk.py", "--units", "6", "--latency", "0.05", "--server", f"again={mephisto}")
    assert set(result["seconds"]) == {"this", "again"}
    # a call per unit, each waiting 0.05 s at the fake: at least 0.05 s per unit over 8 at once
    assert all(s[0] >= 6 * 0.05 / 8 for s in result["seconds"].values()), result
    assert result["mturk_calls_per_unit"]["this"] == {"ApproveAssignment": 1.0}  # one call per submitted unit
    assert result["ratio_against"]["seconds"]["this"] == 1.0


def test_review_bulk_prolific_times_a_bulk_bonus() -> None:
    result = _json_line_of("review_bulk_prolific.py", "--units", "6", "--latency", "0.02", "--action", "bonus")
    # each submission read first (its bonuses so far), then one bulk bonus for the six set up and paid, the reason
    # sent as one message; the benchmark checks that each participant was paid one bonus at the fake
    assert result["prolific_calls_per_unit"]["this"] == {
        "GET submissions/{id}/": 1.0,
        "POST submissions/bonus-payments/": 0.17,
        "POST bulk-bonus-payments/{id}/pay/": 0.17,
        "POST messages/bulk/": 0.17,
    }
    assert result["seconds"]["this"][0] >= 4 * 0.02, result


def test_review_bulk_prolific_times_a_bulk_block() -> None:
    result = _json_line_of("review_bulk_prolific.py", "--units", "6", "--latency", "0.02", "--action", "block")
    # the six participants put in the block list in one call (the benchmark checks that each is in it)
    calls = result["prolific_calls_per_unit"]["this"]
    assert calls["POST participant-groups/{id}/participants/"] == 0.17, result


def test_mturk_stop_times_ctrl_c_until_every_hit_is_withdrawn() -> None:
    mephisto = Path(sys.executable).parent / "mephisto"
    result = _json_line_of("mturk_stop.py", "--units", "4", "--latency", "0.05", "--server", f"again={mephisto}")
    assert set(result["seconds"]) == {"this", "again"} and result["exit_codes"] == {"this": [0], "again": [0]}
    # every unit's HIT looked up and withdrawn while stopping (the benchmark checks that none is left open)
    assert result["mturk_calls_per_unit"]["this"]["UpdateExpirationForHIT"] >= 1.0, result
    assert all(s[0] > 0.05 for s in result["seconds"].values()), result


def test_mturk_sync_times_both_ways_of_reading_held_units() -> None:
    result = _json_line_of("mturk_sync.py", "--held", "20", "--returned", "2", "--latency", "0.02")
    # 20 HITs make one page of a listing, against 3 rounds of 8 GetHITs (the benchmark checks both ways' drifts)
    assert result["mturk_calls"] == {
        "get_hit_each": {"GetHIT": 20, "GetAssignment": 2},
        "as_shipped": {"ListHITs": 1, "GetAssignment": 2},
    }
    assert all(s[0] >= 0.02 for s in result["seconds"].values()), result


def test_prolific_sync_times_both_ways_of_reading_held_units() -> None:
    args = ("--held", "3", "--returned", "1", "--past", "300", "--latency", "0.02", "--rounds", "1")
    result = _json_line_of("prolific_sync.py", *args)
    # 303 submissions take 4 pages of 100, against 3 GETs (the benchmark checks both ways' drifts)
    assert result["prolific_calls"] == {
        "list_each_time": {"listing_pages": 4, "submission_gets": 0},
        "as_shipped": {"listing_pages": 0, "submission_gets": 3},
    }
    assert all(s[0] >= 0.02 for s in result["seconds"].values()), result


def _filesystem_type(path: Path) -> str:
    """The type of the filesystem holding `path` (the longest mount point above it in /proc/self/mounts)."""
    best, kind = "", ""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        mount_point, fs_type = line.split()[1], line.split()[2]
        if str(path).startswith(mount_point.rstrip("/") + "/") and len(mount_point) > len(best):
            best, kind = mount_point, fs_type
    return kind


def _disk_backed_folder(tmp_path: Path) -> Path:
    """A folder for a new file whose writes the kernel counts: a tmpfs counts none, so where the test's temporary
    folder is one, /var/tmp (kept on disk by convention) or the checkout's folder is used instead."""
    for folder in (tmp_path, Path("/var/tmp"), BENCHMARKS.parent):
        if folder.is_dir() and os.access(folder, os.W_OK) and _filesystem_type(folder.resolve()) != "tmpfs":
            return folder
    unavailable("no writable folder outside a tmpfs (which counts no write_bytes) to write the test's file in")


def test_written_bytes_counts_what_a_process_writes_to_a_new_file(tmp_path: Path) -> None:
    written_bytes = _benchmark_module("_proc_watch").written_bytes
    folder = Path(tempfile.mkdtemp(prefix="mephisto-written-bytes-", dir=_disk_backed_folder(tmp_path)))
    target = folder / "new-file"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"open({str(target)!r}, 'wb').write(b'x' * 1_000_000); print('done', flush=True); input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "done\n"
        assert 1_000_000 <= written_bytes(writer.pid) < 2_000_000
    finally:
        writer.communicate("\n", timeout=10)
        shutil.rmtree(folder)
    assert written_bytes(writer.pid) is None  # the process is gone


def test_every_benchmark_script_is_run_by_dev_bench() -> None:
    # `./dev bench` refuses to start while a script is missing from noxfile.BENCH_RUNS; this says so before.
    listed = set(re.findall(r'^\s*\(\s*"(\w+)",', (BENCHMARKS.parent / "noxfile.py").read_text(), re.MULTILINE))
    scripts = {path.stem for path in BENCHMARKS.glob("[!_]*.py")}
    assert scripts - listed == set(), "add these to noxfile.BENCH_RUNS"
    assert listed - scripts == set(), "BENCH_RUNS names scripts that do not exist"
