"""Fixtures of the mturk provider's tests (helpers next to the tests are imported by bare name)."""
