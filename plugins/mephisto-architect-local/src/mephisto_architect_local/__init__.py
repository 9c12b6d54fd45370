"""The `local` architect: serves the task's worker pages from this machine.

Importing this package is cheap; the architect and the router it starts are imported when a task runs.
"""
