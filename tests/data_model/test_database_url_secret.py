"""A PostgreSQL password in MEPHISTO_DATABASE_URL never appears in an error message."""

from __future__ import annotations

from pathlib import Path

import pytest

from mephisto_core.data_model import open_database
from mephisto_core.data_model.database import url_for_people
from mephisto_core.errors import DatabaseError

PASSWORD = "hunter2-pg-secret"


def test_unreachable_postgres_error_names_the_server_but_not_the_password(tmp_path: Path) -> None:
    pytest.importorskip("psycopg2")
    url = f"postgresql://lab:{PASSWORD}@127.0.0.1:1/mephisto"  # port 1: nothing listens, refused at once

    with pytest.raises(DatabaseError) as caught:
        open_database(url, tmp_path / "unused.db")

    message = str(caught.value)
    assert "cannot open the database at postgresql://lab:********@127.0.0.1:1/mephisto" in message
    assert PASSWORD not in message


def test_unsupported_url_error_hides_the_password(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError) as caught:
        open_database(f"mysql://lab:{PASSWORD}@db.example/m", tmp_path / "unused.db")

    assert PASSWORD not in str(caught.value)
    assert "'mysql://lab:********@db.example/m' is not supported" in str(caught.value)


def test_url_without_password_is_shown_as_it_is() -> None:
    assert url_for_people("postgresql://lab@127.0.0.1:5432/m") == "postgresql://lab@127.0.0.1:5432/m"


@pytest.mark.parametrize("keep_connections", [False, True])
def test_a_url_without_a_database_name_is_a_clean_error(tmp_path: Path, keep_connections: bool) -> None:
    with pytest.raises(DatabaseError) as caught:
        open_database(
            f"postgresql://lab:{PASSWORD}@127.0.0.1:5432", tmp_path / "unused.db", keep_connections=keep_connections
        )

    assert str(caught.value) == (
        "MEPHISTO_DATABASE_URL 'postgresql://lab:********@127.0.0.1:5432' has no database name: "
        "write postgresql://USER:PW@HOST:PORT/DB"
    )
