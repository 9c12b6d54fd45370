"""The `prolific` crowd provider: Prolific studies through its REST API (httpx)."""
