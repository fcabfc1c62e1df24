"""Tests of the Zato product package and its stand-in."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from harness import resources

#: the stand-in's own code (``containers/zato/app/code``): bare Python the stand-in's hosts run
APP_CODE = resources.containers("zato") / "app" / "code"


def standin_module(name: str) -> ModuleType:
    """``zato_standin.NAME``, imported from the stand-in's code without leaving it on ``sys.path``."""
    sys.path.insert(0, str(APP_CODE))
    try:
        return importlib.import_module(f"zato_standin.{name}")
    finally:
        sys.path.remove(str(APP_CODE))
