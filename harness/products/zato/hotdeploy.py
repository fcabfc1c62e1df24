"""Zato service installation, pure logic: payloads and what Zato 3.2 would refuse (reference §1.6-1.8).

Nothing here talks to a node, so every rule is unit-tested (``tests/products/test_zato_hotdeploy.py``):

- :func:`load_payloads`: a plan's ``files`` (paths) and ``sources`` (inline modules) as :class:`Payload`;
- :func:`refusal`: why Zato would not deploy a payload (not a flat ``.py`` module, empty, over 5 MB,
  a name that escapes the pickup directory, a syntax error, a relative import, no service in it), as
  a :class:`~harness.errors.PlanError` naming the file, the line, the plan field and the fix;
- :func:`service_names`: the services a module defines, read with :mod:`ast` (never executed), named
  as Zato names them: the ``name`` attribute, else :func:`service_name` (Zato's ``uncamelify``);
- :func:`with_entries`: ``service-sources.txt`` with entries added before its last line
  (``./work/hot-deploy/current``, "always the last line").
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import PlanError

__all__ = ["HOT_DEPLOY_LINE", "MAX_PAYLOAD", "Payload", "load_payloads", "refusal", "service_name", "service_names",
           "uncamelify", "with_entries"]

RESERVED_PREFIX = "zato."  # Zato's own services (zato.ping, zato.service.*): a user service must not take one
MAX_PAYLOAD = 5_000_000  # bytes: deployment_package.payload is LargeBinary(5000000)
HOT_DEPLOY_LINE = "./work/hot-deploy/current"
ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".whl", ".egg", ".gz", ".bz2")


@dataclass(frozen=True)
class Payload:
    name: str  # file name as it lands in the pickup dir / is uploaded
    data: bytes
    field: str  # where in the plan it comes from, e.g. params.files[0]
    origin: str  # the file on disk, or "<inline>"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def to_arg(self) -> dict[str, str]:
        return {"name": self.name, "field": self.field, "origin": self.origin}


def load_payloads(params: dict[str, Any], resolve: Callable[[str], Path] = Path) -> list[Payload]:
    """``files: [path, …]`` (``resolve`` makes them absolute: the plan resolves them against its own
    directory) and ``sources: {name.py: text}``."""
    out: list[Payload] = []
    files = params.get("files") or []
    if not isinstance(files, list):
        raise PlanError("`files` must be a list of paths", field="params.files", hint="files: [services/hello.py]")
    for i, f in enumerate(files):
        path, field = resolve(str(f)), f"params.files[{i}]"
        if path.is_dir():
            raise PlanError(f"{path} is a directory: Zato hot-deploys flat modules only", file=str(path), field=field,
                            hint="list its .py files one by one, or install a package with zato-extra-paths")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PlanError(f"cannot read {path}: {exc.strerror}", file=str(path), field=field,
                            hint="paths are relative to the plan file") from None
        out.append(Payload(path.name, data, field, str(path)))
    sources = params.get("sources") or {}
    if not isinstance(sources, dict):
        raise PlanError("`sources` must map file names to module text", field="params.sources",
                        hint="sources: {hello.py: \"from zato.server.service import Service ...\"}")
    for name, text in sources.items():
        out.append(Payload(str(name), str(text).encode(), f"params.sources.{name}", "<inline>"))
    if not out:
        raise PlanError("nothing to deploy", field="params.files", hint="give `files: [...]` or `sources: {...}`")
    seen: set[str] = set()
    for p in out:
        if p.name in seen:
            raise PlanError(f"{p.name} is given twice", field=p.field, hint="each module once per plan")
        seen.add(p.name)
    return out


def _error(p: Payload, message: str, hint: str, line: int | None = None) -> PlanError:
    shown = p.name if p.name.isprintable() else repr(p.name)  # a name with a newline stays on one line
    return PlanError(f"{shown}: {message}", file=p.origin if p.origin != "<inline>" else None, line=line,
                     field=p.field, hint=hint)


def refusal(p: Payload) -> PlanError | None:
    """Why this payload would not deploy as a flat Zato module, or None."""
    name = p.name
    if not name or name != os.path.basename(name) or name in (".", "..") or "\\" in name:
        return _error(p, "the name escapes the pickup directory (a plain file name is required)",
                      "give a file name such as `hello.py`, without directories or `..`")
    if name.lower().endswith(ARCHIVES):
        return _error(p, "archives are not hot-deployed: the pickup pattern is *.py",
                      "unpack it and deploy its flat modules, or install it with zato-extra-paths")
    if not name.endswith(".py"):
        return _error(p, "not a Python module: Zato ignores files that do not match *.py",
                      "rename it to .py if it is a flat Python module")
    if not name[:-3].isidentifier():
        # Zato names the module after the file (get_module_name_by_path) and services after the module:
        # a name that is no identifier (`a\nb.py`, `my-mod.py`) gives a module nothing can import and log
        # lines no one can read back
        return _error(p, f"{name[:-3]!r} is not a Python module name (a Python identifier followed by .py)",
                      "rename the file, e.g. `my_module.py`: letters, digits and underscores, not starting "
                      "with a digit")
    if name == "__init__.py":
        return _error(p, "a package marker: Zato hot-deploys flat modules only, not packages",
                      "install packages with zato-extra-paths")
    if len(p.data) > MAX_PAYLOAD:
        return _error(p, f"{len(p.data)} bytes, over Zato's payload limit of {MAX_PAYLOAD} bytes (5 MB)",
                      "split the module, or move code into a package installed with zato-extra-paths")
    if not p.data.strip():
        return _error(p, "the file is empty: Zato would log `No services were deployed from module`",
                      "give a module that defines at least one Service subclass")
    try:
        tree = ast.parse(p.data, filename=name)
    except SyntaxError as exc:
        return _error(p, f"syntax error: {exc.msg}", "fix the syntax; Zato would log `Could not load source` "
                      "and keep the previous version", line=exc.lineno)
    except ValueError as exc:  # null bytes
        return _error(p, f"not Python source: {exc}", "give a text .py module")
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            return _error(p, "relative import: hot-deployed modules are flat, they have no package",
                          "import absolutely, or install the package with zato-extra-paths", line=node.lineno)
    services = _services(tree, name)
    if not services:
        return _error(p, "defines no Service subclass: Zato would log `No services were deployed from module`",
                      "add `class MyService(Service)` (from zato.server.service import Service)")
    for service, line in services:
        if service.startswith(RESERVED_PREFIX):
            return _error(p, f"service {service!r} is in the {RESERVED_PREFIX}* namespace reserved for Zato's own "
                          "services (zato.ping answers the load balancer's health check)",
                          f"rename the service (`name = 'myproject.{service.removeprefix(RESERVED_PREFIX)}'`)"
                          + (", or the module: services are named MODULE.CLASS" if service.startswith("zato.")
                             and name == "zato.py" else ""), line=line)
    return None


# Zato 3.2 zato.common.util.api: a capital after a lower-case letter, or a capital (not the first
# character) followed by a lower-case letter, starts a new word.
_UNCAMELIFY_RE = re.compile(r"((?<=[a-z])[A-Z]|(?<!\A)[A-Z](?=[a-z]))")


def uncamelify(text: str, separator: str = "-") -> str:
    """Zato's ``uncamelify``: ``ServiceCSV`` -> ``service-csv``, ``WSDLDocs`` -> ``wsdl-docs``."""
    return separator.join(word.lower() for word in _UNCAMELIFY_RE.sub(r" \1", text).split())


def service_name(module: str, class_name: str) -> str:
    """The name Zato 3.2 gives service ``class_name`` of module ``module`` with no ``name`` attribute
    (``Service.convert_impl_name``): uncamelify ``module.Class``, dashes for underscores in the module
    path, and in the class part a dash after an underscore dropped (``My_Service`` -> ``my_service``)."""
    *path, cls = uncamelify(f"{module}.{class_name}").split(".")
    cls = cls[1:] if cls.startswith("-") else cls
    cls = cls.replace(".-", ".").replace("_-", "_")
    return ".".join([elem.replace("_", "-") for elem in path] + [cls])


def _is_service_base(base: ast.expr, aliases: set[str]) -> bool:
    if isinstance(base, ast.Name):
        return base.id in aliases
    return isinstance(base, ast.Attribute) and base.attr == "Service"


def service_names(source: bytes, file_name: str) -> list[str]:
    """Names of the services a flat module defines (classes deriving from ``Service``, or from a
    class of the same module that does), without executing it."""
    try:
        tree = ast.parse(source, filename=file_name)
    except (SyntaxError, ValueError):
        return []
    return [name for name, _line in _services(tree, file_name)]


def _services(tree: ast.Module, file_name: str) -> list[tuple[str, int]]:
    """``(service name, line of its class)`` for each service of a parsed module."""
    aliases = {"Service"}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "zato.server.service":
            aliases |= {a.asname or a.name for a in node.names if a.name == "Service"}
    module = Path(file_name).stem
    names = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(_is_service_base(b, aliases) for b in node.bases):
            aliases.add(node.name)
            explicit = next((s.value.value for s in node.body if isinstance(s, ast.Assign)
                             and any(isinstance(t, ast.Name) and t.id == "name" for t in s.targets)
                             and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str)), None)
            names.append((explicit or service_name(module, node.name), node.lineno))
    return names


def with_entries(text: str, entries: list[str]) -> str:
    """``service-sources.txt`` with ``entries`` added (once) just before ``./work/hot-deploy/current``."""
    lines = text.splitlines()
    present = {ln.strip() for ln in lines}
    new = [e for e in entries if e not in present]
    if not new:
        return text
    at = next((i for i, ln in enumerate(lines) if ln.strip() == HOT_DEPLOY_LINE), len(lines))
    return "\n".join(lines[:at] + new + lines[at:]) + "\n"
