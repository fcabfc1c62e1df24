"""Repo glue: load the fixtures package for the self-tests and suites (markers come from the plugin)."""

pytest_plugins = ["fixtures.backends", "fixtures.zato", "fixtures.canopsis"]
