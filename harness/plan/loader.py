"""YAML → models, with errors that name the file, the line and the field, and say how to fix it
(:mod:`harness.plan.errors`)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import PlanError
from harness.plan.errors import locate, validation_error
from harness.plan.models import Inventory, Plan

M = TypeVar("M", bound=BaseModel)


def load_model(path: str | Path, model: type[M]) -> M:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PlanError("file not found", file=str(path), hint="check the path") from None
    except OSError as exc:
        raise PlanError(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        # the context mark is where the unfinished construct (quote, brace, key) starts; the problem mark
        # is where the parser gave up, often lines later (end of stream for an unclosed quote)
        mark = exc.context_mark or exc.problem_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or "cannot parse"
        if exc.context and exc.problem_mark:
            problem += f" at line {exc.problem_mark.line + 1}, {exc.context} that starts here"
        raise PlanError(f"not valid YAML: {problem}", file=str(path), line=line,
                        hint="check indentation and quoting around this line") from None
    if not isinstance(data, dict):
        raise PlanError(f"expected a mapping at the top level, found {type(data).__name__}", file=str(path),
                        line=1, hint=f"see `harness schema` for the shape of a {model.__name__.lower()}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, model, file=str(path), node=node) from None


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
    inv = load_model(path, Inventory)
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

