"""A YAML file read into a pydantic model, with errors that name the file, the line and the field, and say how
to fix it (:mod:`harness.plan.errors`). Generic: plans, inventories and rule catalogues all load through it, and
it needs nothing of the registry (which the plan loader consults for products and stand-in options)."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import PlanError
from harness.plan.errors import validation_error

M = TypeVar("M", bound=BaseModel)


#: larger files are refused before they are parsed (a 60 MB plan once took 69 s to be accepted); modules
#: and archives belong in files the plan names
MAX_BYTES = 16 * 1024 * 1024
#: YAML aliases may repeat a node; the document they expand to is refused past this many nodes (an alias
#: "billion laughs" of 1.9 KB once drove the executor to 1.6 GB)
MAX_NODES = 200_000


def _read(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise PlanError(f"the file is {size / 1e6:.1f} MB; plans and inventories are at most "
                            f"{MAX_BYTES // 2**20} MiB", file=str(path),
                            hint="put large content (modules, archives, release notes) in files the plan names")
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise PlanError("file not found", file=str(path), hint="check the path") from None
    except UnicodeDecodeError as exc:
        raise PlanError(f"not a text file: byte {exc.start} is not UTF-8", file=str(path),
                        hint="plans and inventories are YAML text in UTF-8") from None
    except OSError as exc:
        raise PlanError(f"cannot read: {exc.strerror}", file=str(path)) from None


def _check_tree(root: yaml.Node, path: Path) -> None:
    """Refuse duplicated keys (YAML would keep the last silently) and aliases that expand too far."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # post-order, iterative: a deeply nested document must not exhaust the Python stack
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        kids = [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else \
            list(node.value) if isinstance(node, yaml.SequenceNode) else []
        if not children_done:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
            continue
        sizes[id(node)] = 1 + sum(sizes[id(k)] for k in kids)
        if sizes[id(node)] > MAX_NODES:
            raise PlanError(f"YAML aliases expand this document to more than {MAX_NODES} nodes",
                            file=str(path), line=node.start_mark.line + 1,
                            hint="write the values out instead of repeating them through aliases (*name)")
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key, _ in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    continue
                if key.value in seen:
                    raise PlanError(f"key {key.value!r} appears twice (lines {seen[key.value]} and "
                                    f"{key.start_mark.line + 1}); YAML would silently keep the last",
                                    file=str(path), line=key.start_mark.line + 1, hint="keep one of them")
                seen[key.value] = key.start_mark.line + 1


def load_model(path: str | Path, model: type[M]) -> M:
    path = Path(path)
    text = _read(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _check_tree(node, path)
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
    except RecursionError:
        raise PlanError("nested too deeply to read", file=str(path),
                        hint="plans and inventories are a few levels of mappings and lists") from None
    if not isinstance(data, dict):
        raise PlanError(f"expected a mapping at the top level, found {type(data).__name__}", file=str(path),
                        line=1, hint=f"see `harness schema` for the shape of a {model.__name__.lower()}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, model, file=str(path), node=node) from None
