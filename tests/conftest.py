"""Fixtures shared across test directories."""

pytest_plugins = ["tests.testbed.fixtures"]
