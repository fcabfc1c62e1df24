"""Errors that name the file, the line and the field, and say how to fix it.

PyYAML's composed node tree keeps a line for every mapping key; pydantic's error ``loc`` is walked
through that tree to find the line of the offending field. Everything that validates user input (plan
files, inventories, procedure params, stand-in settings) reports through :func:`validation_error`, and
an error raised where the file is not known gets it from :func:`locate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import PlanError

__all__ = ["line_of", "locate", "validation_error"]


def line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
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


def scalar_at(node: yaml.Node | None, loc: tuple[int | str, ...]) -> yaml.ScalarNode | None:
    """The scalar at ``loc`` in a composed YAML tree (its source text is ``.value``), or None."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return None
    return node if isinstance(node, yaml.ScalarNode) else None


def quote_hint(written: str, read: object) -> str:
    """The fix for a version YAML read as a number, quoting what the file says (``1.10``), not the number
    YAML made of it (``1.1``: another version)."""
    made = f", the number {read}" if str(read) != written else " as a number"
    return f'quote it: "{written}" (unquoted, YAML reads it{made}; 1.10 would become 1.1)'


def _numbers_quoted(hint: str | None, node: yaml.Node | None, loc: tuple[int | str, ...], read: object) -> str | None:
    scalar = scalar_at(node, loc)
    if hint and hint.startswith("quote it:") and scalar is not None:
        return quote_hint(scalar.value, read)
    return hint


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
        return quote_hint(str(given), given)
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
    return PlanError(message, file=file, line=line_of(node, loc) if node is not None else None, field=field,
                     hint=_numbers_quoted(_hint(err, model, where), node, loc, err.get("input")))


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
    scalar = scalar_at(node, loc)
    read = yaml.safe_load(scalar.value) if scalar is not None and scalar.tag.endswith((":float", ":int")) else None
    return PlanError(message, file=str(path), line=line_of(node, loc) if node is not None else None,
                     field=exc.field, hint=_numbers_quoted(exc.hint, node, loc, read))


