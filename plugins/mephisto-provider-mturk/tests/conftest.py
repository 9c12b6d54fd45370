"""Fixtures of the mturk provider's tests (helpers next to the tests are imported by bare name)."""

from mturk_test_helpers import fake  # noqa: F401  (a fixture)
