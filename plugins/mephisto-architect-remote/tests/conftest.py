"""Fixtures of the remote architect's tests: helper modules here are imported by bare name."""
