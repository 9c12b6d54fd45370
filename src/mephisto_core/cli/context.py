"""What CLI commands share: settings, the logging they set up, and the database they open."""

from __future__ import annotations

import logging

from mephisto_core.data_model import Database, open_database
from mephisto_core.file_modes import secure_data_dir
from mephisto_core.settings import Settings, load_settings_or_explain

SQL_LOGGER = "peewee"


class SqlWithoutParameters(logging.Filter):
    """Keeps the text of the statements peewee logs and drops their parameters.

    Parameters hold agent tokens, review tokens and workers' answers; the statement text holds only
    placeholders, so it is enough to see what the database is asked to do.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # peewee logs `(sql, params)` as the message itself, with no format arguments.
        if isinstance(record.msg, tuple) and len(record.msg) == 2:
            record.msg, record.args = "%s [parameters not logged]", (record.msg[0],)
        return True


def load_settings() -> Settings:
    settings = load_settings_or_explain()
    configure_logging(settings)
    return settings


def configure_logging(settings: Settings) -> None:
    """Root logging at MEPHISTO_LOG_LEVEL; SQL only with MEPHISTO_LOG_SQL; never a token or an answer."""
    level = logging.getLevelName(settings.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # websockets logs every opened and closed connection at INFO: a line per worker page, which at a thousand
    # workers buries the launch's own messages and costs the event loop ~4 % of its time. At DEBUG it logs
    # every frame, and frames carry agent tokens and submissions: so INFO is as low as it goes.
    logging.getLogger("websockets").setLevel(logging.INFO if level <= logging.DEBUG else max(level, logging.WARNING))
    # SQL has its own switch: at DEBUG it is a line per statement, and it is not what DEBUG is usually for.
    sql = logging.getLogger(SQL_LOGGER)
    sql.setLevel(logging.DEBUG if settings.log_sql else logging.INFO)
    if not any(isinstance(existing, SqlWithoutParameters) for existing in sql.filters):
        sql.addFilter(SqlWithoutParameters())


def open_settings_database(settings: Settings, *, keep_connections: bool = False) -> Database:
    """Make the data dir private (see `file_modes`), then open the database the settings name.

    `keep_connections`: for a server answering each request in a thread (`open_database`).
    """
    secure_data_dir(settings.data_dir, settings.sqlite_path.name)
    return open_database(settings.database_url, settings.sqlite_path, keep_connections=keep_connections)
