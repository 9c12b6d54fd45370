"""The `remote` architect: serve a task through a standalone router running at a public URL.

Importing this package is cheap; the architect is imported when a task uses it.
"""
