"""Report tests share the engine tests' isolation (own state, runs and stand-ins directories per test)."""

from tests.core.engine.conftest import isolated_dirs

__all__ = ["isolated_dirs"]
