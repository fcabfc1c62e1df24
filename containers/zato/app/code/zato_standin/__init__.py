"""Zato stand-in: the observable surface of Zato 3.2 components (CLI, ports, HTTP endpoints, log lines).

The version is read once, when the package is imported, from the ``VERSION`` file of the installation
(``<checkout>/.installed/VERSION``). A running component therefore reports the version of the code it
started with, even after ``git pull`` and ``./update.sh`` replaced the installation.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
INSTALL_DIR = _HERE.parent.parent  # .installed/ (or the checkout itself when run from the source tree)


def _read_version() -> str:
    for candidate in (INSTALL_DIR / "VERSION", _HERE.parent / "VERSION"):
        if candidate.is_file():
            return candidate.read_text().strip()
    return "0.0.0+unknown"


__version__ = _read_version()
