"""The `annotate` blueprint: annotation schemes declared in the task file, answered with mouse or keyboard."""

__all__: list[str] = []
