"""JSON Schemas of plans and inventories, with each procedure's params and each product's stand-in settings.

``harness schema plan`` is a complete JSON Schema (draft 2020-12) for plan files: ``params`` depends on
``procedure`` (``if``/``then``, which YAML language servers follow), so an editor completes ``revision``
for ``zato-update`` and refuses it for ``canopsis-update``; ``standins`` likewise depends on
``standins.product``. Point an editor at it with a first line such as
``# yaml-language-server: $schema=plan.schema.json``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from harness import registry, standins
from harness.plan.models import Inventory, Plan

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _add(defs: dict[str, Any], name: str, model: type[BaseModel]) -> dict[str, str]:
    """Put ``model``'s schema (and the models it uses) into ``defs`` under ``name``; a ``$ref`` to it."""
    schema = model.model_json_schema(ref_template="#/$defs/{model}", by_alias=True)
    defs.update(schema.pop("$defs", {}))
    defs[name] = schema
    return {"$ref": f"#/$defs/{name}"}


def plan_schema() -> dict[str, Any]:
    reg = registry.registry()
    schema = Plan.model_json_schema(ref_template="#/$defs/{model}")
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    schema["properties"]["procedure"]["enum"] = sorted(reg.procedures)
    branches = []
    for name in sorted(reg.procedures):
        proc = registry.procedure(name)
        ref = _add(defs, f"params:{name}", proc.params)
        branches.append({"if": {"properties": {"procedure": {"const": name}}, "required": ["procedure"]},
                         "then": {"properties": {"params": {**ref, "description": proc.summary}}}})
    products = [p for p in reg.products.values() if p.standin]
    spec = defs["StandinsSpec"]
    spec["properties"]["product"]["enum"] = sorted(p.name for p in products)
    spec_branches = []
    for p in sorted(products, key=lambda p: p.name):
        opts = standins.standin(p.name).Options.model_json_schema(ref_template="#/$defs/{model}")
        defs.update(opts.pop("$defs", {}))
        spec_branches.append({"if": {"properties": {"product": {"const": p.name}}, "required": ["product"]},
                              "then": {"properties": opts.get("properties", {})}})
    spec["allOf"] = spec_branches
    # settings beyond product/backend/version are allowed only where the product's branch declares them
    spec.pop("additionalProperties", None)
    spec["unevaluatedProperties"] = False
    return {"$schema": DIALECT, "title": "upgrade-harness plan", **schema, "allOf": branches}


def inventory_schema() -> dict[str, Any]:
    reg = registry.registry()
    schema = Inventory.model_json_schema(ref_template="#/$defs/{model}")
    branches = [{"if": {"properties": {"product": {"const": p.name}}, "required": ["product"]},
                 "then": {"properties": {"components": {"items": {"properties": {"role": {"enum": list(p.roles)}}}}}}}
                for p in sorted(reg.products.values(), key=lambda p: p.name)]
    return {"$schema": DIALECT, "title": "upgrade-harness inventory", **schema, "allOf": branches}
