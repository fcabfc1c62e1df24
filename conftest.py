"""Repo glue for the harness's own tests and suites (the fixtures ship with the plugin: harness.pytest_plugin
and each product's ``fixtures`` module)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress

import pytest

# numpy's C core loads once per process ("ImportError: cannot load module more than once per process"). A
# pytester in-process run loads plugins that import numpy (pytest-randomly seeds numpy.random), and pytester
# restores sys.modules afterwards, dropping numpy: the next timeline PNG (matplotlib) in that worker then fails.
# Imported here, numpy is in every pytester snapshot and stays.
with suppress(ImportError):
    import numpy  # noqa: F401


@pytest.fixture(scope="session", autouse=True)
def _isolated_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Leases, runs and stand-ins of each test session stay under pytest's tmp dir (per xdist worker)."""
    base = tmp_path_factory.getbasetemp()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_STATE_DIR", str(base / "state"))
        mp.setenv("HARNESS_RUNS_DIR", str(base / "runs"))
        mp.setenv("HARNESS_STANDINS_DIR", str(base / "standins"))
        yield
