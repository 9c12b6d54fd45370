"""The web review app behind `mephisto review`: a small local HTTP server, a JSON API and a single-page UI.

Everything goes through `ReviewApp` (state shared by the request threads) and `ReviewServer` (the HTTP side);
reads use the data browser and writes go through `ReviewActions`, so the app adds no review logic of its own.
"""

from mephisto_core.review_app.app import ReviewApp
from mephisto_core.review_app.server import ReviewServer

__all__ = ["ReviewApp", "ReviewServer"]
