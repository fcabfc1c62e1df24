"""Plan and inventory models (pydantic), YAML loading with line-numbered errors, JSON Schema."""

from harness.plan.loader import load_inventory, load_plan
from harness.plan.models import Component, Host, Inventory, Plan, StandinsSpec

__all__ = ["Component", "Host", "Inventory", "Plan", "StandinsSpec", "load_inventory", "load_plan"]
