"""Stand-in environments: bring a product's stand-ins up on a backend, hand back an inventory, tear down.

Backends: ``process`` (each node a directory and local processes on 127.0.0.1 ports) and ``docker``
(one container per host on a per-run network, ports published on 127.0.0.1, through testcontainers).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from harness.plan.models import Inventory, StandinsSpec


def new_env_name(product: str) -> str:
    return f"{product}-{secrets.token_hex(4)}"


def up(spec: StandinsSpec, state_dir: Path, *, name: str | None = None) -> Inventory:
    from harness.standins import zato

    return zato.up(spec, state_dir, name=name or new_env_name(spec.product))


def down(inventory: Inventory, *, purge: bool = False) -> None:
    """Stop an environment; nothing is left running. ``purge`` also deletes its files and logs."""
    from harness.standins import zato

    zato.down(inventory, purge=purge)
