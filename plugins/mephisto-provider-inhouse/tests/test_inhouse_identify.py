"""Who a link identifies: only a known name with its exact token; everyone else gets words, not a unit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from mephisto_provider_inhouse.provider import BAD_LINK_MESSAGE, InhouseProvider
from mephisto_provider_inhouse.roster import RosterWorker, edit_roster, new_worker, roster_path

from mephisto_core import plugins
from mephisto_core.abstractions import WorkerIdentity
from mephisto_core.errors import ConfigError, ProviderError
from mephisto_core.operations.providers import build_provider
from mephisto_core.settings import Settings
from mephisto_core.task_config import load_task_config

AddWorkers = Callable[..., dict[str, RosterWorker]]


def _refused(identity: WorkerIdentity) -> bool:
    return identity.worker_name is None and identity.refusal == BAD_LINK_MESSAGE


def test_known_name_with_its_token_is_that_worker(provider: InhouseProvider, add_workers: AddWorkers) -> None:
    alice = add_workers("alice", "bob")["alice"]
    assert provider.identify_worker({"worker": "alice", "token": alice.token}) == WorkerIdentity("alice")


def test_wrong_token_is_refused_with_words_for_a_person(provider: InhouseProvider, add_workers: AddWorkers) -> None:
    alice = add_workers("alice")["alice"]
    for wrong in (alice.token[:-1], alice.token + "x", alice.token.upper(), "", "é" * 32):
        assert _refused(provider.identify_worker({"worker": "alice", "token": wrong})), wrong
    assert "not valid" in BAD_LINK_MESSAGE
    assert "ask the researcher for your personal link" in BAD_LINK_MESSAGE.lower()


def test_another_workers_token_does_not_open_this_name(provider: InhouseProvider, add_workers: AddWorkers) -> None:
    added = add_workers("alice", "bob")
    assert _refused(provider.identify_worker({"worker": "alice", "token": added["bob"].token}))


def test_unknown_name_is_refused_even_with_a_real_token(provider: InhouseProvider, add_workers: AddWorkers) -> None:
    alice = add_workers("alice")["alice"]
    assert _refused(provider.identify_worker({"worker": "mallory", "token": alice.token}))
    assert _refused(provider.identify_worker({"worker": "Alice", "token": alice.token}))  # names are exact


def test_missing_token_or_missing_name_is_refused(provider: InhouseProvider, add_workers: AddWorkers) -> None:
    alice = add_workers("alice")["alice"]
    assert _refused(provider.identify_worker({"worker": "alice"}))
    assert _refused(provider.identify_worker({"token": alice.token}))
    assert _refused(provider.identify_worker({"worker": "", "token": ""}))


def test_link_with_neither_parameter_is_a_preview(provider: InhouseProvider, add_workers: AddWorkers) -> None:
    add_workers("alice")
    assert provider.identify_worker({}) == WorkerIdentity(None)
    assert provider.identify_worker({"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"}) == WorkerIdentity(None)


def test_removed_workers_link_stops_working_in_a_running_provider(
    provider: InhouseProvider, add_workers: AddWorkers
) -> None:
    bob = add_workers("alice", "bob")["bob"]
    link = {"worker": "bob", "token": bob.token}
    assert provider.identify_worker(link).worker_name == "bob"
    with edit_roster(roster_path(provider.data_dir)) as workers:
        del workers["bob"]
    assert _refused(provider.identify_worker(link))


def test_rotated_token_replaces_the_old_one(provider: InhouseProvider, add_workers: AddWorkers) -> None:
    old = add_workers("alice")["alice"]
    assert provider.identify_worker({"worker": "alice", "token": old.token}).worker_name == "alice"
    new = add_workers("alice")["alice"]
    assert new.token != old.token
    assert _refused(provider.identify_worker({"worker": "alice", "token": old.token}))
    assert provider.identify_worker({"worker": "alice", "token": new.token}).worker_name == "alice"


def test_worker_added_while_running_can_log_in(provider: InhouseProvider, add_workers: AddWorkers) -> None:
    assert provider.identify_worker({"worker": "carol", "token": "t" * 32}).refusal is not None
    carol = add_workers("carol")["carol"]
    assert provider.identify_worker({"worker": "carol", "token": carol.token}).worker_name == "carol"


def test_broken_roster_keeps_the_last_good_one_and_stops_a_new_launch(
    provider: InhouseProvider, add_workers: AddWorkers, caplog: pytest.LogCaptureFixture
) -> None:
    alice = add_workers("alice")["alice"]
    link = {"worker": "alice", "token": alice.token}
    assert provider.identify_worker(link).worker_name == "alice"
    roster_path(provider.data_dir).write_text("version = 1\n[workers.alice\n")
    with caplog.at_level(logging.ERROR):
        assert provider.identify_worker(link).worker_name == "alice"
        assert provider.identify_worker(link).worker_name == "alice"
    assert len([r for r in caplog.records if "not valid TOML" in r.getMessage()]) == 1  # logged once, not per hello
    with pytest.raises(ProviderError, match="not valid TOML"):
        provider.setup_resources(None, "http://127.0.0.1:1/")  # type: ignore[arg-type]


def test_launch_with_no_workers_yet_warns(provider: InhouseProvider, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        provider.setup_resources(None, "http://127.0.0.1:1/")  # type: ignore[arg-type]
    assert "mephisto inhouse add-worker NAME" in caplog.text


def test_personal_link_round_trips_through_identify_worker(provider: InhouseProvider, add_workers: AddWorkers) -> None:
    add_workers("lab@uni.edu", "p-01.x_y")
    for name in ("lab@uni.edu", "p-01.x_y"):
        link = provider.worker_link("http://127.0.0.1:3000/", name)
        assert link.startswith("http://127.0.0.1:3000/?worker=")
        params = dict(parse_qsl(urlsplit(link).query))
        assert provider.identify_worker(params).worker_name == name


def test_launch_link_shows_the_shape_and_how_to_print_personal_links(
    provider: InhouseProvider, add_workers: AddWorkers
) -> None:
    base = "http://127.0.0.1:41234/"
    assert provider.worker_link(base) == (
        f"{base}?worker=NAME&token=TOKEN (no workers yet: mephisto inhouse add-worker NAME, "
        f"then mephisto inhouse links --base-url {base})"
    )
    add_workers("alice")
    assert provider.worker_link(base) == (
        f"{base}?worker=NAME&token=TOKEN (personal links: mephisto inhouse links --base-url {base})"
    )
    with pytest.raises(ProviderError, match="'zed' is not an in-house worker"):
        provider.worker_link(base, "zed")


def test_base_url_from_the_task_file_replaces_the_servers_address(mephisto_settings: Settings) -> None:
    built = build_provider(mephisto_settings, "inhouse", {"base_url": "https://lab.example.org/study/?s=2"})
    with edit_roster(roster_path(built.data_dir)) as workers:
        workers["alice"] = alice = new_worker("alice")
    assert built.worker_link("http://127.0.0.1:3000/", "alice") == (
        f"https://lab.example.org/study/?s=2&worker=alice&token={alice.token}"
    )
    assert built.worker_link("http://127.0.0.1:3000/").startswith(
        "https://lab.example.org/study/?s=2&worker=NAME&token=TOKEN (personal links:"
    )


@pytest.mark.parametrize(
    ("base_url", "words"),
    [
        ("lab.example.org", "must start with http:// or https://"),
        ("http://", "has no host name"),
        ("http://h/#x", "#fragment"),
        ("http://h:99999/", "port"),
        ("http://h/?token=1", "already has a 'token' parameter"),
    ],
)
def test_unusable_base_url_in_the_task_file_is_a_config_error(
    tmp_path: Path, base_url: str, words: str, mephisto_settings: Settings
) -> None:
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "data.csv").write_text("x\n1\n")
    (folder / "task.html").write_text("<p>${x}</p>")
    (folder / "task.toml").write_text(
        '[task]\nname = "t"\ntitle = "t"\nreward = 0\n'
        '[blueprint]\ntype = "static"\ntask_source = "task.html"\ndata_csv = "data.csv"\n'
        '[architect]\ntype = "local"\nport = 0\n'
        f'[provider]\ntype = "inhouse"\nbase_url = "{base_url}"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_task_config(folder / "task.toml")
    assert "provider.base_url" in str(caught.value)
    assert words in str(caught.value)


def test_defaults_need_no_account() -> None:
    args = InhouseProvider.Args()
    assert args.requester_name == "INHOUSE" == InhouseProvider.default_requester_name
    assert args.base_url is None  # type: ignore[attr-defined]
    assert InhouseProvider.is_sandbox is False
    assert InhouseProvider.validate_credentials({}) == {}
    with pytest.raises(ProviderError, match="takes no credentials, but got: api_key"):
        InhouseProvider.validate_credentials({"api_key": "x"})


def test_installed_plugin_registers_the_inhouse_type() -> None:
    plugins.reset()
    try:
        assert plugins.get_registry().get("provider", "inhouse") is InhouseProvider
    finally:
        plugins.reset()
