"""YAML → models, with errors that name the file, the line and the field, and say how to fix it.

PyYAML's composed node tree keeps a line for every mapping key; pydantic's error ``loc`` is walked
through that tree to find the line of the offending field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import PlanError
from harness.plan.models import Inventory, Plan

M = TypeVar("M", bound=BaseModel)


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _hint(err: Any, model: type[BaseModel], where: str = "top level") -> str:
    kind, given = err["type"], err.get("input")
    if kind == "extra_forbidden":
        fields = ", ".join(sorted(f.alias or name for name, f in model.model_fields.items())) or "none"
        return f"remove it or check its spelling; `harness schema` lists the fields ({where}: {fields})"
    if kind == "missing":
        return "add this field"
    if kind == "literal_error":
        return f"use {err.get('ctx', {}).get('expected', 'one of the allowed values')}"
    if kind == "string_type" and isinstance(given, int | float) and not isinstance(given, bool):
        return f'quote it: "{given}" (YAML reads {given} as a number, and 1.10 would become 1.1)'
    if kind in ("int_type", "int_parsing", "float_type", "float_parsing"):
        return "write a number (no quotes)"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return "use a value in the allowed range (see `harness schema`)"
    return "see `harness schema` for the expected shape"


def validation_error(exc: ValidationError, model: type[BaseModel], *, prefix: tuple[str | int, ...] = (),
                     file: str | None = None, node: yaml.Node | None = None, where: str = "top level") -> PlanError:
    """One :class:`PlanError` for a pydantic error: the first problem, its field and line, and the fix."""
    err = exc.errors()[0]
    loc = prefix + tuple(err["loc"])
    field = ".".join(str(p) for p in loc) or None
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = f"unknown field {str(loc[-1])!r}"
    message += more
    return PlanError(message, file=file, line=_line_of(node, loc) if node is not None else None, field=field,
                     hint=_hint(err, model, where))


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


def locate(exc: PlanError, path: str | Path) -> PlanError:
    """A procedure's PlanError (field known, file not) with the plan file and the field's line filled in."""
    if exc.file is not None:
        return exc
    try:
        node = yaml.compose(Path(path).read_text(), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError):
        node = None
    loc: tuple[str | int, ...] = tuple(int(p) if p.isdigit() else p for p in exc.field.split(".")) \
        if exc.field else ()
    message = str(exc).split("\n")[0].split(" (field: ")[0]
    return PlanError(message, file=str(path), line=_line_of(node, loc) if node is not None else None,
                     field=exc.field, hint=exc.hint)


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

