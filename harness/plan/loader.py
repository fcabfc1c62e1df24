"""Plans and inventories from YAML (:mod:`harness.plan.yamlfile`), checked against the installed products:
their roles, their stand-in options."""

from __future__ import annotations

from pathlib import Path

from harness.errors import PlanError
from harness.plan.errors import locate
from harness.plan.models import Inventory, Plan
from harness.plan.yamlfile import load_model

__all__ = ["load_inventory", "load_model", "load_plan"]


def load_plan(path: str | Path) -> Plan:
    """A plan file; its ``standins:`` settings are checked against the product's own options here too."""
    plan = load_model(path, Plan)
    plan._base_dir = Path(path).resolve().parent
    if plan.standins is not None:
        from harness import standins  # the stand-in layer builds on this module

        try:
            standins.options(plan.standins)
        except PlanError as exc:
            raise locate(exc, path) from None
    return plan


def load_inventory(path: str | Path) -> Inventory:
    """An inventory file; each component's role must be one of its product's (when that product is installed)."""
    inv = load_model(path, Inventory).with_paths_under(Path(path).resolve().parent)
    from harness import registry

    known = registry.products()
    if inv.product in known:
        roles = known[inv.product].roles
        for i, c in enumerate(inv.components):
            if c.role not in roles:
                exc = PlanError(f"component {c.name!r} has role {c.role!r}, which product {inv.product} does "
                                "not have", field=f"components.{i}.role", hint=f"use one of: {', '.join(roles)}")
                raise locate(exc, path) from None
    return inv

