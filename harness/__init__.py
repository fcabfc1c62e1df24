"""upgrade-harness: conformance harness and upgrade executor.

Importable without pytest; only :mod:`harness.pytest_plugin` imports pytest.
"""

__version__ = "0.1.0"
