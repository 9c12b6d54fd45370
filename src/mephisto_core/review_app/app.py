"""`ReviewApp`: what every request of the review server shares (settings, database, token, actions)."""

from __future__ import annotations

import hmac
import secrets
import threading

from mephisto_core.data_model import Database, Task
from mephisto_core.errors import NotFound
from mephisto_core.operations.data_browser import DataBrowser
from mephisto_core.operations.review.actions import ReviewActions
from mephisto_core.review_app.rendering import BlueprintRenderer
from mephisto_core.review_app.submitted_cache import BySubmittedUnits
from mephisto_core.settings import Settings

#: Recorded as the reviewer of every action taken in the web app.
REVIEWER = "review-app"


def new_token() -> str:
    """A fresh secret for one run of the review server."""
    return secrets.token_urlsafe(24)


class ReviewApp:
    """State of one review session: the open database, its readers and writers, and the access token.

    Reads run in the request threads through the data browser. Review actions are serialised by one lock: two
    clicks on the same unit must not both reach the provider before either is recorded.
    """

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        token: str | None = None,
        task: str | None = None,
        undo_seconds: int = 5,
    ):
        self.settings = settings
        self.database = database
        self.token = token or new_token()
        self.browser = DataBrowser(database)
        self.actions = ReviewActions(database, settings, reviewer=REVIEWER)
        self.action_lock = threading.Lock()
        self.renderer = BlueprintRenderer(settings.data_dir)
        self.default_task_id: int | None = None
        #: each task's agreement and workers, kept until more of its units are submitted
        self.by_submitted = BySubmittedUnits()
        # The page waits this long before sending a verdict, so its Undo can still take it back.
        self.undo_seconds = undo_seconds
        if task is not None:
            found = Task.get_or_none(Task.name == task)
            if found is None:
                known = ", ".join(repr(t.name) for t in Task.select(Task.name).order_by(Task.name).limit(20))
                raise NotFound(f"--task {task!r}: there is no task with that name (known tasks: {known or 'none'})")
            self.default_task_id = int(found.id)

    def token_matches(self, presented: str | None) -> bool:
        """Whether `presented` is this session's token (compared in constant time)."""
        if not presented:
            return False
        return hmac.compare_digest(presented.encode("utf-8"), self.token.encode("utf-8"))
