"""Stand-in environments: bring a product's stand-ins up on a backend, hand back an inventory, tear down.

Backends: ``process`` (each node a directory and local processes on 127.0.0.1 ports) and ``docker``
(one container per host on a per-run network, ports published on 127.0.0.1, through testcontainers).

Each product's stand-in module (registered in :data:`STANDINS`) provides
``up(spec, state_dir, *, name) -> Inventory``, ``down(inventory, *, purge)`` and
``planned_inventory(spec, state_dir, *, name) -> Inventory`` (the inventory ``up`` would write, without
starting anything: for ``harness plan`` and dry runs).
"""

from __future__ import annotations

import importlib
import secrets
from pathlib import Path
from types import ModuleType

from harness.errors import ConfigError
from harness.plan.models import Inventory, StandinsSpec

STANDINS: dict[str, str] = {
    "zato": "harness.standins.zato",
    "canopsis": "harness.standins.canopsis",
    "beam": "harness.standins.beam",
    "otp": "harness.standins.otp",
}


def module(product: str) -> ModuleType:
    if product not in STANDINS:
        raise ConfigError(f"no stand-ins for product {product!r}", hint=f"known: {', '.join(sorted(STANDINS))}")
    return importlib.import_module(STANDINS[product])


def new_env_name(product: str) -> str:
    return f"{product}-{secrets.token_hex(4)}"


def up(spec: StandinsSpec, state_dir: Path, *, name: str | None = None) -> Inventory:
    inv: Inventory = module(spec.product).up(spec, state_dir, name=name or new_env_name(spec.product))
    return inv


def planned_inventory(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    inv: Inventory = module(spec.product).planned_inventory(spec, state_dir, name=name)
    return inv


def down(inventory: Inventory, *, purge: bool = False) -> None:
    """Stop an environment; nothing is left running. ``purge`` also deletes its files and logs."""
    module(inventory.product).down(inventory, purge=purge)
