"""`mephisto inhouse add-worker / remove-worker / list / links`, run through the real `mephisto` command group."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import Result
from mephisto_provider_inhouse.provider import InhouseProvider
from mephisto_provider_inhouse.roster import read_roster, roster_path

from mephisto_core.settings import Settings

RunCli = Callable[..., Result]


def _roster_file(settings: Settings) -> Path:
    return settings.data_dir / "providers" / "inhouse" / "roster.toml"


def _failed(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def _links(run_cli: RunCli, *args: str) -> dict[str, str]:
    result = run_cli("inhouse", "links", "--json", *args)
    assert result.exit_code == 0, result.output
    return {row["name"]: row["link"] for row in json.loads(result.output)}


def test_add_worker_writes_a_private_roster_that_the_running_provider_reads(
    run_cli: RunCli, mephisto_settings: Settings, provider: InhouseProvider
) -> None:
    result = run_cli("inhouse", "add-worker", "alice", "bob")
    assert result.exit_code == 0, result.output
    assert "Added 2 workers (alice, bob)" in result.output
    path = _roster_file(mephisto_settings)
    assert f"Roster: {path}" in result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    workers = read_roster(path)
    assert list(workers) == ["alice", "bob"]
    assert workers["alice"].token != workers["bob"].token
    # The provider `mephisto launch` builds finds the same file: the CLI's token logs alice in.
    assert roster_path(provider.data_dir) == path
    token = workers["alice"].token
    assert provider.identify_worker({"worker": "alice", "token": token}).worker_name == "alice"


def test_existing_name_is_refused_and_nothing_changes(run_cli: RunCli, mephisto_settings: Settings) -> None:
    assert run_cli("inhouse", "add-worker", "alice").exit_code == 0
    before = _roster_file(mephisto_settings).read_bytes()
    output = _failed(run_cli("inhouse", "add-worker", "carol", "alice"))
    assert "argument 2: worker 'alice' exists already" in output
    assert "--rotate" in output
    assert _roster_file(mephisto_settings).read_bytes() == before


def test_rotate_gives_a_new_token_and_the_old_link_stops_working(run_cli: RunCli, provider: InhouseProvider) -> None:
    assert run_cli("inhouse", "add-worker", "alice", "bob").exit_code == 0
    old = _links(run_cli)
    result = run_cli("inhouse", "add-worker", "--rotate", "alice", "dave")
    assert result.exit_code == 0, result.output
    assert "Added 1 worker (dave)" in result.output
    assert "Made new tokens for 1 worker (alice): their old links no longer work" in result.output
    new = _links(run_cli)
    assert new["alice"] != old["alice"] and new["bob"] == old["bob"]
    old_params = dict(parse_qsl(urlsplit(old["alice"]).query))
    new_params = dict(parse_qsl(urlsplit(new["alice"]).query))
    assert provider.identify_worker(old_params).refusal is not None
    assert provider.identify_worker(new_params).worker_name == "alice"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ok", "two words"], "argument 2: worker name 'two words' holds characters that are not allowed"),
        (["x" * 65], "argument 1: worker name 'xxx"),
        (["ok", "ok"], "argument 2: worker 'ok' is also given at argument 1"),
        ([], "name at least one worker"),
    ],
)
def test_bad_names_are_refused_and_nothing_is_written(
    run_cli: RunCli, mephisto_settings: Settings, args: list[str], words: str
) -> None:
    result = run_cli("inhouse", "add-worker", *args)
    assert result.exit_code != 0
    assert words in result.output
    assert read_roster(_roster_file(mephisto_settings)) == {}


def test_csv_adds_names_with_emails(run_cli: RunCli, mephisto_settings: Settings, tmp_path: Path) -> None:
    csv_file = tmp_path / "people.csv"
    # A byte-order mark, capitalised headers, an extra column and a blank line, as spreadsheets write them.
    csv_file.write_text("\ufeffGroup, Name ,Email\nA,alice,alice@lab.example.org\n\nB,bob,\n", encoding="utf-8")
    result = run_cli("inhouse", "add-worker", "--csv", csv_file)
    assert result.exit_code == 0, result.output
    workers = read_roster(_roster_file(mephisto_settings))
    assert {name: w.email for name, w in workers.items()} == {"alice": "alice@lab.example.org", "bob": None}
    listed = json.loads(run_cli("inhouse", "list", "--json").output)
    assert [(row["name"], row["email"]) for row in listed] == [("alice", "alice@lab.example.org"), ("bob", None)]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("name\nalice\nbad name\n", "people.csv:3: worker name 'bad name' holds characters"),
        ("name,email\nalice,a@x.org\nbob,not-an-email\n", "people.csv:3: email 'not-an-email' of worker 'bob'"),
        ("name,email\nalice,\n ,bob@x.org\n", "people.csv:3: worker name '' is empty"),
        ("who,email\nalice,a@x.org\n", "people.csv:1: no 'name' column in the header (found: who, email)"),
        ("", "people.csv: the file is empty"),
        ("name\nalice\nbob\nalice\n", "people.csv:4: worker 'alice' is also given at"),
    ],
)
def test_bad_csv_rows_are_reported_with_their_line_and_nothing_is_written(
    run_cli: RunCli, mephisto_settings: Settings, tmp_path: Path, content: str, words: str
) -> None:
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(content)
    output = _failed(run_cli("inhouse", "add-worker", "--csv", csv_file))
    assert words in output
    assert read_roster(_roster_file(mephisto_settings)) == {}


def test_csv_name_already_in_the_roster_is_named_by_its_line(run_cli: RunCli, tmp_path: Path) -> None:
    assert run_cli("inhouse", "add-worker", "bob").exit_code == 0
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("name\nalice\nbob\n")
    assert "people.csv:3: worker 'bob' exists already" in _failed(run_cli("inhouse", "add-worker", "--csv", csv_file))


def test_missing_or_non_utf8_csv_is_a_clear_error(run_cli: RunCli, tmp_path: Path) -> None:
    assert "no such CSV file" in _failed(run_cli("inhouse", "add-worker", "--csv", tmp_path / "nope.csv"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name\nzo\xeb\n".encode("latin-1"))
    assert "not UTF-8 text" in _failed(run_cli("inhouse", "add-worker", "--csv", latin))


def test_links_print_each_workers_personal_link(run_cli: RunCli, mephisto_settings: Settings) -> None:
    assert run_cli("inhouse", "add-worker", "alice", "lab@uni.edu").exit_code == 0
    tokens = {name: w.token for name, w in read_roster(_roster_file(mephisto_settings)).items()}
    result = run_cli("inhouse", "links")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"alice        http://127.0.0.1:3000/?worker=alice&token={tokens['alice']}",
        f"lab@uni.edu  http://127.0.0.1:3000/?worker=lab@uni.edu&token={tokens['lab@uni.edu']}",
    ]
    only_alice = _links(run_cli, "--base-url", "https://lab.example.org/study", "alice")
    assert only_alice == {"alice": f"https://lab.example.org/study?worker=alice&token={tokens['alice']}"}


def test_links_refuse_a_bad_base_url_or_unknown_name(run_cli: RunCli) -> None:
    assert run_cli("inhouse", "add-worker", "alice").exit_code == 0
    output = _failed(run_cli("inhouse", "links", "--base-url", "127.0.0.1:3000"), code=2)
    assert "--base-url" in output and "must start with http:// or https://" in output
    assert "no in-house worker named 'zed'" in _failed(run_cli("inhouse", "links", "zed"))


def test_empty_roster_says_how_to_add_workers(run_cli: RunCli) -> None:
    for command in ("list", "links"):
        result = run_cli("inhouse", command)
        assert result.exit_code == 0
        assert "mephisto inhouse add-worker NAME" in result.output
    assert json.loads(run_cli("inhouse", "links", "--json").output) == []


def test_list_shows_names_but_never_tokens(run_cli: RunCli, mephisto_settings: Settings) -> None:
    assert run_cli("inhouse", "add-worker", "alice", "bob").exit_code == 0
    tokens = [w.token for w in read_roster(_roster_file(mephisto_settings)).values()]
    result = run_cli("inhouse", "list")
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == ["NAME", "alice", "bob"]
    assert not any(token in result.output for token in tokens)


def test_remove_worker_stops_their_link(run_cli: RunCli, provider: InhouseProvider) -> None:
    assert run_cli("inhouse", "add-worker", "alice", "bob").exit_code == 0
    bob_link = dict(parse_qsl(urlsplit(_links(run_cli)["bob"]).query))
    assert provider.identify_worker(bob_link).worker_name == "bob"
    result = run_cli("inhouse", "remove-worker", "bob")
    assert result.exit_code == 0, result.output
    assert "Removed 1 worker (bob): their links no longer work" in result.output
    assert provider.identify_worker(bob_link).refusal is not None
    assert list(_links(run_cli)) == ["alice"]


def test_removing_an_unknown_worker_changes_nothing(run_cli: RunCli, mephisto_settings: Settings) -> None:
    assert run_cli("inhouse", "add-worker", "alice").exit_code == 0
    output = _failed(run_cli("inhouse", "remove-worker", "alice", "zed"))
    assert "no in-house worker named 'zed'" in output and "Nothing was changed" in output
    assert list(read_roster(_roster_file(mephisto_settings))) == ["alice"]


def test_corrupt_roster_is_a_one_line_error(run_cli: RunCli, mephisto_settings: Settings) -> None:
    path = _roster_file(mephisto_settings)
    path.parent.mkdir(parents=True)
    path.write_text("version = 1\n[workers.alice\n")
    output = _failed(run_cli("inhouse", "list"))
    assert f"Error: {path}: the in-house roster is not valid TOML" in output


def test_inhouse_commands_appear_in_help(run_cli: RunCli) -> None:
    result = run_cli("inhouse", "--help")
    assert result.exit_code == 0
    for command in ("add-worker", "remove-worker", "list", "links"):
        assert command in result.output
