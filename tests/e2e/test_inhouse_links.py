"""The in-house provider end to end: `mephisto init`, two workers added with `mephisto inhouse add-worker`, a real
`mephisto launch`, then personal links tried over a real WebSocket and in Chromium, and a Ctrl-C that exits 0."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from e2e_helpers import LaunchProcess, mephisto
from mephisto_provider_inhouse.provider import BAD_LINK_MESSAGE
from websockets.sync.client import ClientConnection, connect

from mephisto_core.data_model import Agent, AgentStatus, Worker, open_database
from mephisto_core.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser

WORKERS = ("alice", "bob")
StartLaunch = Callable[..., LaunchProcess]


@dataclass
class InhouseLaunch:
    """A running launch of the static template with `provider.type=inhouse`, and the workers' personal links."""

    launch: LaunchProcess
    base_url: str
    links: dict[str, str]  # name -> personal link, as `mephisto inhouse links --json` prints it
    tokens: dict[str, str]


class Page:
    """A worker page speaking the protocol by hand over a real WebSocket (the sync client: no event loop)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0

    def request(self, **msg: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({**msg, "id": self.next_id}))
        while True:
            reply = json.loads(self.ws.recv(timeout=10))
            if reply.get("id") == self.next_id:
                return dict(reply)

    def hello(self, **params: str) -> dict[str, Any]:
        return self.request(type="hello", params=params, token=None, client_version="e2e")


@contextmanager
def open_page(base_url: str) -> Iterator[Page]:
    with connect("ws" + base_url[4:] + "ws") as ws:
        yield Page(ws)


def _launch_inhouse(static_task: Path, start_launch: StartLaunch, cli_env: dict[str, str]) -> InhouseLaunch:
    added = mephisto("inhouse", "add-worker", *WORKERS, env=cli_env)
    assert added.returncode == 0, added.stdout + added.stderr
    launch = start_launch(
        str(static_task),
        "provider.type=inhouse",
        "architect.port=0",
        "task.disconnect_grace_seconds=1",  # a closed page gives its unit back quickly, so Ctrl-C ends soon
        "--no-panel",
    )
    shown = launch.wait_for_link()
    base_url, _, query = shown.partition("?")
    assert query == "worker=NAME&token=TOKEN", launch.output()
    assert f"(personal links: mephisto inhouse links --base-url {base_url})" in launch.output()

    printed = mephisto("inhouse", "links", "--json", "--base-url", base_url, env=cli_env)
    assert printed.returncode == 0, printed.stdout + printed.stderr
    links = {row["name"]: row["link"] for row in json.loads(printed.stdout)}
    assert sorted(links) == sorted(WORKERS)
    tokens = {}
    for name, link in links.items():
        match = re.fullmatch(re.escape(base_url) + rf"\?worker={name}&token=([A-Za-z0-9_-]{{32}})", link)
        assert match, link
        tokens[name] = match.group(1)
    return InhouseLaunch(launch, base_url, links, tokens)


def _stop(running: InhouseLaunch) -> None:
    running.launch.interrupt()
    assert running.launch.wait(30) == 0, running.launch.output()


def test_personal_links_over_the_worker_protocol(
    static_task: Path, start_launch: StartLaunch, cli_env: dict[str, str], mephisto_settings: Settings
) -> None:
    running = _launch_inhouse(static_task, start_launch, cli_env)
    alice_token, bob_token = running.tokens["alice"], running.tokens["bob"]

    with open_page(running.base_url) as alice:
        assigned = alice.hello(worker="alice", token=alice_token)
        assert assigned["type"] == "assigned", assigned
        topic = re.search(r'name="topic" value="([^"]*)"', assigned["init_data"]["html"])
        assert topic, assigned["init_data"]
        answer = {
            "topic": topic.group(1),
            "frequency": "weekly",
            "answer": "Reading by the lake on Sunday mornings.",
            "may_quote": False,
        }
        done = alice.request(type="submit", submit_key="alice-inhouse-1", outputs=answer, uploads=[])
        assert done["type"] == "submitted", done

    refusals = {
        "wrong token": {"worker": "alice", "token": alice_token[:-1] + ("A" if alice_token[-1] != "A" else "B")},
        "bob's token under alice's name": {"worker": "alice", "token": bob_token},
        "unknown name": {"worker": "mallory", "token": bob_token},
        "no token": {"worker": "bob"},
    }
    for case, params in refusals.items():
        with open_page(running.base_url) as page:
            refused = page.hello(**params)
        assert refused["type"] == "refused", (case, refused)
        assert refused["reason"] == "bad_link", (case, refused)
        assert refused["message"] == BAD_LINK_MESSAGE, case
        assert "ask the researcher for your personal link" in refused["message"].lower()

    with open_page(running.base_url) as preview:
        assert preview.hello()["type"] == "preview"

    _stop(running)
    db = open_database(None, mephisto_settings.sqlite_path)
    try:
        assert [(w.name, w.provider_type) for w in Worker.select()] == [("alice", "inhouse")]
        (agent,) = Agent.select()
        assert agent.status == AgentStatus.COMPLETED
        assert agent.outputs["answer"] == answer["answer"]
    finally:
        db.close()


def test_chromium_opens_the_task_with_a_personal_link_and_words_with_a_wrong_one(
    static_task: Path, start_launch: StartLaunch, cli_env: dict[str, str], browser: Browser
) -> None:
    running = _launch_inhouse(static_task, start_launch, cli_env)

    good = browser.new_context()
    page = good.new_page()
    page.goto(running.links["bob"])
    page.locator("textarea[name=answer]").wait_for(timeout=15_000)
    assert page.get_by_role("button", name="Submit").is_visible()
    good.close()

    bad = browser.new_context()
    page = bad.new_page()
    page.goto(f"{running.base_url}?worker=bob&token={running.tokens['alice']}")
    page.get_by_text(BAD_LINK_MESSAGE).wait_for(timeout=15_000)
    assert page.get_by_role("heading", name="This link does not work").is_visible()
    assert page.locator("textarea[name=answer]").count() == 0
    bad.close()

    _stop(running)
