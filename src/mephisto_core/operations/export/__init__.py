"""Export: units as JSONL, JSON or CSV with their files, and agreement tables."""
