"""The `remote` architect: serve a task through a standalone router running at a public URL."""
