"""Remote procedure calls through the real router and operator: answers, errors, timeout, rate limit, resends."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from socket_page import Page, run_with_operator

from mephisto_core.data_model.procedure_calls import ProcedureCall, calls_of_units
from mephisto_core.task_config import load_task_config

pytestmark = pytest.mark.usefixtures("test_types")

PROCEDURES = r"""
import pathlib, time
from mephisto_core.procedures import ProcedureError, procedure

RUNS = pathlib.Path(__file__).with_name("runs.log")

@procedure
def score(args, call):
    with RUNS.open("a") as log:
        log.write("run\n")
    if args.get("slow"):
        time.sleep(args["slow"])
    words = args["text"].split()
    return {"words": len(words), "item": call.inputs["n"], "worker": call.provider_worker_id}

@procedure
async def refuse(args):
    raise ProcedureError("Write at least three words first.")

@procedure
def crash(args):
    return {}["missing"]

@procedure
def not_json(args):
    return {1, 2}

@procedure
def stuck(args):
    time.sleep(5)
"""


def config_for(tmp_path: Path, **procedures: Any) -> Any:
    (tmp_path / "procs.py").write_text(PROCEDURES)
    raw = {
        "task": {"name": "calls", "title": "Calls", "procedures": {"module": "procs.py", **procedures}},
        "blueprint": {"type": "echo_test", "rows": 2},
        "architect": {"type": "local", "port": 0},
        "provider": {"type": "crowd_test"},
    }
    (tmp_path / "task.toml").write_text(tomli_w.dumps(raw))
    return load_task_config(tmp_path / "task.toml")


def call(name: str, args: Any, key: str) -> dict[str, Any]:
    return {"type": "call", "name": name, "args": args, "call_key": key}


def test_answers_errors_and_timeouts_reach_the_page_and_are_stored(database, mephisto_settings, tmp_path):
    config = config_for(tmp_path, timeout_seconds=0.5)

    async def scenario(url: str) -> None:
        page = await Page.open(url)
        early = await page.request(**call("score", {"text": "a b"}, "key-00000"))
        assert early["type"] == "error" and early["code"] == "not_assigned"
        assigned = await page.hello("alice", None)
        answer = await page.request(**call("score", {"text": "one two three"}, "key-00001"))
        assert answer == {
            "type": "call_result",
            "id": answer["id"],
            "call_key": "key-00001",
            "result": {"words": 3, "item": assigned["init_data"]["n"], "worker": "alice"},
        }
        refused = await page.request(**call("refuse", {}, "key-00002"))
        assert (refused["code"], refused["message"]) == ("procedure_failed", "Write at least three words first.")
        crashed = await page.request(**call("crash", {}, "key-00003"))
        assert crashed["code"] == "procedure_failed" and "'crash' procedure failed" in crashed["message"]
        assert "KeyError" not in crashed["message"]  # the trace is the researcher's, not the worker's
        odd = await page.request(**call("not_json", {}, "key-00004"))
        assert odd["code"] == "procedure_failed"
        late = await page.request(**call("stuck", {}, "key-00005"))
        assert late["code"] == "procedure_timeout" and "longer than 0.5 s" in late["message"]
        other = await page.request(**call("score", {"text": "a b c"}, "key-0000x"), agent_id=assigned["agent_id"] + 99)
        assert other["code"] == "not_your_unit"
        unknown = await page.request(**call("nope", {}, "key-00006"))
        assert unknown["code"] == "unknown_procedure" and "crash, not_json, refuse, score, stuck" in unknown["message"]
        bad = await page.request(type="call", name="score", args={}, call_key="")
        assert bad["code"] == "bad_message" and "call_key" in bad["message"]
        done = await page.submit("submit-0001", "ok")
        assert done["type"] == "submitted"
        after = await page.request(**call("score", {"text": "x"}, "key-00007"))
        assert after["code"] == "gone"
        await page.ws.close()

    run_with_operator(database, mephisto_settings, config, scenario)
    rows = list(ProcedureCall.select().order_by(ProcedureCall.id))
    assert [(r.name, r.error_code) for r in rows] == [
        ("score", None),
        ("refuse", "procedure_failed"),
        ("crash", "procedure_failed"),
        ("not_json", "procedure_failed"),
        ("stuck", "procedure_timeout"),
    ]
    assert rows[0].args == {"text": "one two three"} and rows[0].result["words"] == 3
    assert "KeyError: 'missing'" in rows[2].error and "not JSON" in rows[3].error
    assert all(r.finished_at is not None and r.duration_ms >= 0 for r in rows)
    assert rows[4].duration_ms >= 500
    exported = calls_of_units([rows[0].unit_id])[rows[0].unit_id]
    assert [c["name"] for c in exported] == ["score", "refuse", "crash", "not_json", "stuck"]
    assert exported[1]["error"] == "Write at least three words first."


def test_a_resent_call_runs_once_and_gets_the_same_answer(database, mephisto_settings, tmp_path):
    config = config_for(tmp_path)

    async def scenario(url: str) -> None:
        page = await Page.open(url)
        await page.hello("bob", None)
        # Sent twice while the first still runs (a page that reconnected resends), then once more after.
        frame = call("score", {"text": "same call", "slow": 0.3}, "resent-key")
        await page.ws.send(json.dumps({**frame, "id": 50}))
        await page.ws.send(json.dumps({**frame, "id": 51}))
        answers = [json.loads(await asyncio.wait_for(page.ws.recv(), 10)) for _ in range(2)]
        assert sorted(a["id"] for a in answers) == [50, 51]
        again = await page.request(**frame)
        assert {json.dumps(a["result"]) for a in [*answers, again]} == {
            json.dumps({"words": 2, "item": 0, "worker": "bob"})
        }
        await page.ws.close()

    run_with_operator(database, mephisto_settings, config, scenario)
    assert (tmp_path / "runs.log").read_text() == "run\n"
    assert ProcedureCall.select().count() == 1


def test_calls_are_rate_limited_per_worker(database, mephisto_settings, tmp_path):
    config = config_for(tmp_path, max_calls_per_minute=3)

    async def scenario(url: str) -> None:
        alice, bob = await Page.open(url), await Page.open(url)
        await alice.hello("alice", None)
        await bob.hello("bob", None)
        codes = []
        for n in range(5):
            answer = await alice.request(**call("score", {"text": "w"}, f"alice-key-{n}"))
            codes.append(answer.get("code", answer["type"]))
        assert codes == ["call_result"] * 3 + ["rate_limited"] * 2
        limited = await alice.request(**call("score", {"text": "w"}, "alice-key-9"))
        assert "3 per minute" in limited["message"]
        # A resend of a call already answered is not a new call; another worker has a count of their own.
        replay = await alice.request(**call("score", {"text": "w"}, "alice-key-0"))
        assert replay["type"] == "call_result"
        other = await bob.request(**call("score", {"text": "w"}, "bob-key-00"))
        assert other["type"] == "call_result"
        await alice.ws.close()
        await bob.ws.close()

    run_with_operator(database, mephisto_settings, config, scenario)
    assert ProcedureCall.select().count() == 4  # refused calls are not stored
