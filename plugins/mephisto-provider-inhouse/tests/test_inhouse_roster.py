"""The roster file: where it is, who may read it, what it holds, and how it survives bad edits and races."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
from mephisto_provider_inhouse.roster import (
    MAX_NAME_LENGTH,
    edit_roster,
    email_problem,
    name_problem,
    new_worker,
    read_roster,
    roster_path,
    write_roster,
)

from mephisto_core.errors import ProviderError
from mephisto_core.operations.providers import provider_data_dir
from mephisto_core.settings import Settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_roster_is_created_in_the_providers_data_dir_with_mode_0600(mephisto_settings: Settings) -> None:
    path = roster_path(provider_data_dir(mephisto_settings, "inhouse"))
    assert path == mephisto_settings.data_dir / "providers" / "inhouse" / "roster.toml"
    assert not path.exists()
    with edit_roster(path) as workers:
        workers["alice"] = new_worker("alice", "alice@lab.example.org")
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    (alice,) = read_roster(path).values()
    assert (alice.name, alice.email) == ("alice", "alice@lab.example.org")
    assert alice.added_at.endswith("+00:00")
    assert list(path.parent.glob("*.tmp")) == []  # the temporary file was renamed, not left behind


def test_rewriting_a_roster_that_others_could_read_makes_it_private_again(tmp_path: Path) -> None:
    path = roster_path(tmp_path)
    write_roster(path, {"a": new_worker("a")})
    path.chmod(0o644)
    with edit_roster(path) as workers:
        workers["b"] = new_worker("b")
    assert _mode(path) == 0o600
    assert list(read_roster(path)) == ["a", "b"]


def test_tokens_are_long_random_and_unique() -> None:
    tokens = [new_worker(f"w{i}").token for i in range(500)]
    assert len(set(tokens)) == 500
    assert all(len(token) == 32 for token in tokens)  # token_urlsafe(24): 24 random bytes


def test_missing_roster_reads_as_no_workers(tmp_path: Path) -> None:
    assert read_roster(tmp_path / "roster.toml") == {}


def test_an_error_inside_an_edit_leaves_the_roster_as_it_was(tmp_path: Path) -> None:
    path = roster_path(tmp_path)
    write_roster(path, {"alice": new_worker("alice")})
    before = path.read_bytes()
    with pytest.raises(RuntimeError), edit_roster(path) as workers:
        workers.clear()
        raise RuntimeError("changed my mind")
    assert path.read_bytes() == before


def test_concurrent_edits_lose_no_worker(tmp_path: Path) -> None:
    path = roster_path(tmp_path)

    def add_many(prefix: str) -> None:
        for i in range(15):
            with edit_roster(path) as workers:
                workers[f"{prefix}{i}"] = new_worker(f"{prefix}{i}")

    threads = [threading.Thread(target=add_many, args=(prefix,)) for prefix in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(read_roster(path)) == 60


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"version = 1\n[workers.alice\n", "not valid TOML"),
        (b"version = 2\n", "version 2, this plugin reads version 1"),
        (b"workers = {}\n", "version None"),
        (b"version = 1\nworkers = 5\n", "'workers' must be a table"),
        (b'version = 1\n[workers.alice]\nemail = "a@b.c"\n', "worker 'alice' has no token"),
        (b'version = 1\n[workers."bad name"]\ntoken = "t"\n', "holds characters that are not allowed"),
        (b'version = 1\n[workers.alice]\ntoken = "t"\nemail = 3\n', "'email' must be a string"),
        (b"\xff\xfe", "not valid TOML"),
    ],
)
def test_broken_roster_is_reported_with_its_file_and_problem(tmp_path: Path, content: bytes, words: str) -> None:
    path = roster_path(tmp_path)
    path.write_bytes(content)
    with pytest.raises(ProviderError) as caught:
        read_roster(path)
    assert str(path) in str(caught.value)
    assert words in str(caught.value)


@pytest.mark.parametrize("name", ["alice", "Bob.Smith", "p-01", "x_y", "lab@uni.edu", "a", "z" * MAX_NAME_LENGTH])
def test_valid_worker_names(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "is empty"),
        ("z" * (MAX_NAME_LENGTH + 1), "65 characters"),
        ("two words", "not allowed"),
        ("zoë", "not allowed"),
        ("a/b", "not allowed"),
        ("a&token=x", "not allowed"),
        ("tab\t", "not allowed"),
    ],
)
def test_invalid_worker_names_say_why(name: str, words: str) -> None:
    problem = name_problem(name)
    assert problem is not None
    assert words in problem
    assert "letters" in problem


@pytest.mark.parametrize("email", ["no-at-sign", "@lab.org", "a@", "a b@lab.org", "a@b@c"])
def test_implausible_emails_are_refused(email: str) -> None:
    assert email_problem(email) is not None


def test_plausible_email_is_accepted() -> None:
    assert email_problem("first.last+study@lab.example.org") is None
