"""What CLI commands share: settings and the database they open."""

from __future__ import annotations

import logging

from mephisto_core.data_model import Database, open_database
from mephisto_core.settings import Settings, load_settings_or_explain


def load_settings() -> Settings:
    settings = load_settings_or_explain()
    level = logging.getLevelName(settings.log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level > logging.DEBUG:
        # websockets logs every opened and closed connection at INFO: a line per worker page, which at a
        # thousand workers buries the launch's own messages and costs the event loop ~4 % of its time.
        logging.getLogger("websockets").setLevel(max(level, logging.WARNING))
    return settings


def open_settings_database(settings: Settings) -> Database:
    return open_database(settings.database_url, settings.sqlite_path)
