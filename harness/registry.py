"""Products, found through the ``upgrade_harness.products`` entry-point group.

The core names no product: everything product-specific (procedures, actions, gates, the stand-in
installer, pytest fixtures, extra ``harness`` sub-commands) is reached through a :class:`Product` that a
distribution declares, as pytest finds plugins through ``pytest11`` and molecule its drivers::

    # pyproject.toml of a product distribution
    [project.entry-points."upgrade_harness.products"]
    acme = "acme_harness:PRODUCT"

    # acme_harness/__init__.py
    PRODUCT = Product(
        name="acme", summary="ACME message bus", roles=("node",),
        procedures={"acme-restart": "acme_harness.restart:PROCEDURE"},
        actions={"acme.restart": "acme_harness.actions:Restart"},
        gates={"acme.ready": "acme_harness.actions:ready"},
        standin="acme_harness.standin:STANDIN", fixtures="acme_harness.fixtures")

Values are ``module:attribute`` strings imported on first use, so listing products imports no
product's code. Names are global: two products declaring the same procedure, action or gate name are
refused when the registry is loaded.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError, PlanError

if TYPE_CHECKING:
    from harness.engine.actions import Action, GateCheck
    from harness.engine.procedure import Procedure
    from harness.engine.step import Step

__all__ = [
    "ENTRY_POINT_GROUP",
    "Product",
    "Registry",
    "action",
    "gate",
    "procedure",
    "product",
    "products",
    "registered",
    "registry",
]

ENTRY_POINT_GROUP = "upgrade_harness.products"


@dataclass(frozen=True)
class Product:
    name: str
    summary: str
    #: the roles its inventories use (``server``, ``load-balancer`` …); an inventory naming another is refused
    roles: tuple[str, ...]
    #: procedure name -> ``module:attribute`` of a :class:`~harness.engine.procedure.Procedure`
    procedures: Mapping[str, str] = field(default_factory=dict)
    #: action name -> ``module:attribute`` of a factory returning an :class:`~harness.engine.actions.Action`
    actions: Mapping[str, str] = field(default_factory=dict)
    #: gate name -> ``module:attribute`` of a :class:`~harness.engine.actions.GateCheck`
    gates: Mapping[str, str] = field(default_factory=dict)
    #: ``module:attribute`` of its :class:`~harness.standins.Standin` (stand-ins on any backend), if it has one
    standin: str | None = None
    #: module of pytest fixtures, registered by the harness plugin (``pytest --fixtures`` lists them)
    fixtures: str | None = None
    #: extra ``harness`` sub-commands: name -> ``module:attribute`` of a typer app
    commands: Mapping[str, str] = field(default_factory=dict)
    #: ``module:attribute`` of its :class:`~harness.report.timeline.NodeTimeline` (node states from its own
    #: logs, for the report), if it has one
    timeline: str | None = None


def load(ref: str) -> Any:
    """Import ``module:attribute``."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def lazy_exports(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for a product package: each public name (``table``: name -> submodule)
    is imported on first use, so loading the product's :class:`Product` (every ``harness`` command does)
    stays cheap while ``from harness.products.beam import PatchClient`` still works."""

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__


class Registry:
    """Every product's names in one place; built once from the entry points (plus what tests register)."""

    def __init__(self, products: Mapping[str, Product], overlays: Sequence[Product] = ()) -> None:
        self.products = {**products, **{p.name: p for p in overlays}}
        self.procedures = self._merge("procedure", "procedures", products.values(), overlays)
        self.actions = self._merge("action", "actions", products.values(), overlays)
        self.gates = self._merge("gate", "gates", products.values(), overlays)

    @staticmethod
    def _merge(what: str, attr: str, installed: Iterable[Product], overlays: Sequence[Product]
               ) -> dict[str, tuple[str, str]]:
        """Names of the installed products (two declaring one name are refused), then the overlays',
        which replace them (a test's fake action, a mutant procedure)."""
        out: dict[str, tuple[str, str]] = {}
        for p in installed:
            for name, ref in getattr(p, attr).items():
                if name in out:
                    raise ConfigError(f"{what} {name!r} is declared by products {out[name][0]!r} and {p.name!r}",
                                      hint="uninstall one of the two distributions, or rename the "
                                      f"{what} in one of them")
                out[name] = (p.name, ref)
        for p in overlays:
            out.update({name: (p.name, ref) for name, ref in getattr(p, attr).items()})
        return out

    def product(self, name: str) -> Product:
        try:
            return self.products[name]
        except KeyError:
            raise ConfigError(f"unknown product {name!r}",
                              hint=f"installed: {', '.join(sorted(self.products)) or 'none'}; a product "
                              f"distribution registers itself in the {ENTRY_POINT_GROUP!r} entry-point group"
                              ) from None

    def procedure(self, name: str, *, file: str | None = None) -> Procedure:
        if name not in self.procedures:
            raise PlanError(f"unknown procedure {name!r}", file=file, field="procedure",
                            hint=f"use one of: {', '.join(sorted(self.procedures))}")
        proc: Procedure = load(self.procedures[name][1])
        return proc

    def product_of_procedure(self, name: str) -> Product:
        return self.products[self.procedures[name][0]]

    def action(self, name: str) -> Any:
        """The action factory registered as ``name`` (ConfigError naming the known ones if none)."""
        return self._resolve(self.actions, name, "action")

    def gate(self, name: str) -> Any:
        return self._resolve(self.gates, name, "gate")

    @staticmethod
    def _resolve(table: dict[str, tuple[str, str]], name: str, what: str) -> Any:
        if name not in table:
            raise ConfigError(f"unknown {what} {name!r}", hint=f"known: {', '.join(sorted(table))}")
        return load(table[name][1])


_lock = threading.RLock()  # re-entrant: building the registry may load a mutant, which asks for the installed product
_loaded: dict[str, Product] | None = None
_extra: list[Product] = []  # registered for the length of a with-block (harness.testing, mutants)
_cache: Registry | None = None
_mutant: list[Product] | None = None  # the overlay HARNESS_MUTANT names, read once per process


def _entry_points() -> dict[str, Product]:
    out: dict[str, Product] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if not isinstance(obj, Product):
            raise ConfigError(f"entry point {ep.name} = {ep.value} in {ENTRY_POINT_GROUP!r} is not a Product",
                              hint="point it at a harness.registry.Product instance")
        if obj.name != ep.name:
            raise ConfigError(f"entry point {ep.name!r} names product {obj.name!r}",
                              hint="the entry point's name must be the product's name")
        out.setdefault(obj.name, obj)  # the same distribution seen twice on sys.path: first wins
    return out


def _installed() -> dict[str, Product]:
    global _loaded
    with _lock:
        if _loaded is None:
            _loaded = _entry_points()
        return _loaded


def installed_product(name: str) -> Product:
    """The product as its distribution declares it: no overlay, no mutant."""
    return Registry(_installed()).product(name)


def registry() -> Registry:
    global _cache, _mutant
    with _lock:
        if _cache is None:
            if _mutant is None:
                from harness import mutants

                found = mutants.from_env(installed_product)
                _mutant = [found] if found is not None else []
            _cache = Registry(_installed(), [*_mutant, *_extra])
        return _cache


def forget_mutant() -> None:
    """Read ``HARNESS_MUTANT`` again when the registry is next built (the pytest plugin sets it late)."""
    global _cache, _mutant
    with _lock:
        _cache, _mutant = None, None


@contextlib.contextmanager
def registered(*extra: Product) -> Iterator[Registry]:
    """Products added to the registry for the with-block (tests, mutants, embedding programs); their
    procedures, actions and gates replace installed ones of the same name until the block ends."""
    global _cache
    with _lock:
        _extra.extend(extra)
        _cache = None
    try:
        yield registry()
    finally:
        with _lock:
            for p in extra:
                _extra.remove(p)
            _cache = None


def products() -> dict[str, Product]:
    return registry().products


def product(name: str) -> Product:
    return registry().product(name)


def procedure(name: str, *, file: str | None = None) -> Procedure:
    return registry().procedure(name, file=file)


def action(name: str) -> Action:
    obj: Action = registry().action(name)()
    return obj


def gate(name: str) -> GateCheck:
    fn: GateCheck = registry().gate(name)
    return fn


def check_registered(steps: list[Step]) -> None:
    """Refuse a plan whose steps name an unknown action or gate, before anything runs."""
    reg = registry()
    for s in steps:
        reg.action(s.action)
        if s.gate:
            reg.gate(s.gate.kind)
