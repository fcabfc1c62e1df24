"""The service store of one server: user services imported from flat modules, found by name.

Reference §1.6 (``store.py import_services_from_anywhere``): a service-sources entry is a directory
(every ``*.py``/``*.pyw`` in it, sorted, not recursive), a ``.py``/``.pyw`` file, or a module name
(flat or dotted, on the Python path). A file that does not import logs ``Could not load source, …``
and ``No services were deployed from module …`` and the server goes on; a module name that does not
import logs ``Could not import module `m` (internal:0)`` and the server does not start.

A module is swapped in whole or not at all: services it no longer defines are removed, and a module
that would take a service name another module owns is refused (stand-in rule, [A] in the reference),
so nothing already deployed is lost.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from zato.server.service import BadRequest, Response, Service, ServiceNotFound, service_name

from zato_standin.odb import sha256


class NameConflict(Exception):
    pass


@dataclass(frozen=True)
class Deployed:
    cls: type
    source_path: str
    payload_name: str
    source_hash: str


def services_in(module: ModuleType) -> dict[str, type]:
    """Service classes defined in ``module`` itself (imported ones belong to their own module)."""
    found = {}
    for obj in vars(module).values():
        if isinstance(obj, type) and issubclass(obj, Service) and obj is not Service \
                and obj.__module__ == module.__name__:
            found[service_name(obj)] = obj
    return found


class ServiceStore:
    def __init__(self, log: logging.Logger, server_name: str) -> None:
        self.log, self.server_name = log, server_name
        self.services: dict[str, Deployed] = {}
        self.sources: dict[str, bytes] = {}  # source_path -> bytes of the module now serving
        self.lock = threading.RLock()
        self.dropped: list[str] = []

    # ---- loading ------------------------------------------------------------------------------
    def _import_file(self, path: Path) -> ModuleType:
        name = path.stem
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if name not in sys.modules or getattr(sys.modules[name], "__file__", None) == str(path):
            sys.modules[name] = module  # so other user modules can import it
        return module

    def install(self, module: ModuleType, path: Path, source: bytes) -> list[str]:
        """Put a module's services in the store, replacing what the same module defined before; the
        names it no longer defines are in :attr:`dropped` afterwards."""
        found = services_in(module)
        key = str(path)
        with self.lock:
            taken = {n: d.source_path for n, d in self.services.items() if n in found and d.source_path != key}
            if taken:
                raise NameConflict("; ".join(f"service `{n}` is already deployed from `{p}`" for n, p in taken.items()))
            if not found:
                return []
            self.dropped = [n for n, d in self.services.items() if d.source_path == key and n not in found]
            for n in self.dropped:
                del self.services[n]
            digest = sha256(source)
            for n, cls in found.items():
                self.services[n] = Deployed(cls, key, path.name, digest)
            self.sources[key] = source
        return sorted(found)

    def load_file(self, path: Path, source: bytes | None = None) -> list[str]:
        """Import a flat module file and install its services; raises on any error."""
        source = path.read_bytes() if source is None else source
        return self.install(self._import_file(path), path, source)

    def load_file_logged(self, path: Path) -> list[str]:
        try:
            names = self.load_file(path)
        except Exception as exc:
            self.log_failure(path.name, exc)
            return []
        if not names:
            self.log.warning("No services were deployed from module `%s`", path.name)
        return names

    def log_failure(self, file_name: str, exc: BaseException) -> None:
        if isinstance(exc, NameConflict):
            self.log.error("Could not deploy services from `%s`, e:`%s`", file_name, exc)
        else:
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()
            self.log.error("Could not load source, file_name:`%s`, e:`%s`", file_name, tb)
        self.log.warning("No services were deployed from module `%s`", file_name)

    def load_module_name(self, name: str) -> list[str]:
        try:
            module = importlib.import_module(name)
        except ImportError:
            self.log.error("Could not import module `%s` (internal:0)", name)
            raise
        path = Path(getattr(module, "__file__", name) or name)
        return self.install(module, path, path.read_bytes() if path.is_file() else b"")

    def load_dir(self, directory: Path) -> int:
        """Import every Python file of ``directory``; returns the number of services."""
        return sum(len(self.load_file_logged(f))
                   for f in sorted(p for p in directory.iterdir() if p.suffix in (".py", ".pyw") and p.is_file()))

    def load_sources(self, server_dir: Path, sources_file: Path) -> int:
        """Import everything ``service-sources.txt`` lists, in order; returns the number of services."""
        count = 0
        for line in sources_file.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            entry = Path(os.path.normpath(line if os.path.isabs(line) else server_dir / line))
            if entry.is_dir():
                count += self.load_dir(entry)
            elif entry.suffix in (".py", ".pyw"):
                count += len(self.load_file_logged(entry))
            else:
                count += len(self.load_module_name(line))
        return count

    def rows(self, names: list[str] | None = None) -> list[tuple[str, bytes, str, str]]:
        """``deployed_service`` rows (service name, module source, source path, payload name), of
        ``names`` only when given."""
        with self.lock:
            return [(n, self.sources.get(d.source_path, b""), d.source_path, d.payload_name)
                    for n, d in sorted(self.services.items()) if names is None or n in names]

    # ---- invoking -----------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.services

    def invoke(self, name: str, payload: Any, raw_request: Any = None) -> Response:
        deployed = self.services.get(name)
        if deployed is None:
            raise ServiceNotFound(name)
        svc = deployed.cls()
        svc._store = self
        svc.server_name = self.server_name
        svc._prepare(payload, raw_request if raw_request is not None else payload)
        svc.handle()
        svc._check_output()
        return svc.response


__all__ = ["BadRequest", "Deployed", "NameConflict", "ServiceNotFound", "ServiceStore", "services_in"]
