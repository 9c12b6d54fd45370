"""What CLI commands share: settings and the database they open."""

from __future__ import annotations

import logging

from mephisto_core.data_model import Database, open_database
from mephisto_core.settings import Settings, load_settings_or_explain


def load_settings() -> Settings:
    settings = load_settings_or_explain()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return settings


def open_settings_database(settings: Settings) -> Database:
    return open_database(settings.database_url, settings.sqlite_path)
