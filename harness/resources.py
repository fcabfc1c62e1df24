"""Files that ship with the harness: the stand-ins' own programs and Dockerfiles, and the example plans.

They are the repository's top-level ``containers/`` and ``examples/`` folders, reached from the package
as ``harness/_containers`` and ``harness/_examples`` (symlinks in a checkout, real folders in a wheel:
``pyproject.toml`` ships them as package data), so an installed harness finds them wherever it runs.

    >>> (containers("zato") / "Dockerfile").is_file()
    True
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

__all__ = ["containers", "examples"]


def _shipped(name: str) -> Path:
    return Path(str(importlib.resources.files("harness") / name)).resolve()


def containers(product: str | None = None) -> Path:
    """``containers/`` (or ``containers/PRODUCT``); ``HARNESS_CONTAINERS_DIR`` overrides it."""
    override = os.environ.get("HARNESS_CONTAINERS_DIR")
    root = Path(override) if override else _shipped("_containers")
    return root / product if product else root


def examples() -> Path:
    """The example plans, one per procedure (``examples/*.yaml``)."""
    return _shipped("_examples")
