"""upgrade-harness: conformance harness and upgrade executor.

Importable without pytest; only the pytest layer (:mod:`harness.pytest_plugin` and each product's
``fixtures`` module, which the plugin loads) imports pytest.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("upgrade-harness")
except PackageNotFoundError:  # a plain checkout on sys.path, not installed
    __version__ = "0+unknown"
