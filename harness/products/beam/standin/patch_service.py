"""The master domain's patch service on the master host: exactly its Python files, started with the host's
interpreter.

The service (:mod:`harness.products.beam.service`) is stdlib-only Python from this package. The files it
needs are found by reading its imports (and theirs) from the package's own files, so they come from
wherever the harness is installed (a checkout or a wheel), and are put onto the host under
``service/py`` with their package paths; nothing else of the harness reaches the host::

    harness/__init__.py  harness/errors.py  harness/registry.py  harness/products/__init__.py
    harness/products/beam/{__init__,service,agent,archive,etf,status}.py
"""

from __future__ import annotations

import ast
import importlib.resources
import json
from collections.abc import Iterator, Mapping
from importlib.resources.abc import Traversable

from harness.backends import Host
from harness.errors import SetupFailed
from harness.products.beam.standin.node import Layout, detach, put_tree, stop_program
from harness.transports import Transport
from harness.wait import HttpAnswers, wait_until

__all__ = ["MODULE", "service_files", "service_pidfile", "start_service", "stop_service"]

MODULE = "harness.products.beam.service"


def service_files(module: str = MODULE) -> dict[str, bytes]:
    """``{"harness/errors.py": bytes, ...}``: ``module``, every ``harness`` module it imports when loaded
    (module-level imports, not those under ``if TYPE_CHECKING:``), theirs, and each package's ``__init__.py``."""
    top = module.partition(".")[0]
    root = importlib.resources.files(top)
    out: dict[str, bytes] = {}
    todo, seen = [module], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # the enclosing packages run first
        found = _file(root, parts[1:])
        if found is None:
            raise ModuleNotFoundError(f"{name} is not a module of {top}")
        rel, file, is_package = found
        source = file.read_bytes()
        out[rel] = source
        package = name if is_package else name.rpartition(".")[0]
        todo += [m for m in _imports(ast.parse(source), package) if m.partition(".")[0] == top
                 and _file(root, m.split(".")[1:]) is not None]
    return out


def _file(root: Traversable, parts: list[str]) -> tuple[str, Traversable, bool] | None:
    """(relative path, file, is a package) of the module ``parts`` under the top package ``root``."""
    prefix = "/".join([root.name, *parts])
    package = root.joinpath(*parts, "__init__.py")
    if package.is_file():
        return f"{prefix}/__init__.py", package, True
    if parts:
        plain = root.joinpath(*parts[:-1], parts[-1] + ".py")
        if plain.is_file():
            return f"{prefix}.py", plain, False
    return None


def _imports(tree: ast.Module, package: str) -> Iterator[str]:
    """The modules a module's top level imports: ``import a.b``, ``from a import b`` (a, and a.b if it is
    one), relative forms resolved against ``package``."""
    for node in _top_level(tree.body):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base != "__future__":
                yield base
                yield from (f"{base}.{alias.name}" for alias in node.names)


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements run when the module loads: into ``if``/``try`` blocks, not ``if TYPE_CHECKING:``."""
    for node in body:
        if isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _top_level(block)
        else:
            yield node


def start_service(host: Host, layout: Layout, users: Mapping[str, Mapping[str, str]], port: int,
                  timeout: float = 30.0) -> None:
    """Put the service's files and its users (mode 0600) onto the master host and start it there, detached,
    listening on documented ``port``; wait until it answers through the controller's address."""
    t, svc = host.transport, layout.service
    put_tree(t, f"{svc}/py", service_files())
    t.put(f"{svc}/users.json", json.dumps(users).encode(), mode=0o600)
    t.run(detach(f"{svc}/log", [host.python, "-m", MODULE, "--agent-file", layout.portfile, "--store",
                                f"{svc}/store", "--users", f"{svc}/users.json", "--bind", host.bind,
                                "--port", str(host.listen(port)), "--pid-file", service_pidfile(layout)]),
          cwd=f"{svc}/py", env={"PYTHONPATH": f"{svc}/py"}, timeout=30).check()
    wait_until(HttpAnswers(host.url(port) + "/api/patch", status=401), timeout=timeout, interval=0.1,
               error=SetupFailed, what=f"the patch service on {t.target}", hint=f"read {svc}/log on the host")


def service_pidfile(layout: Layout) -> str:
    return f"{layout.service}/pid"


def stop_service(t: Transport, layout: Layout) -> None:
    stop_program(t, service_pidfile(layout))
