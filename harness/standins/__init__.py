"""Stand-in environments: a product's stand-ins, installed onto a backend's hosts, and torn down.

The driver here is product-free. It asks the product's :class:`Standin` which hosts it needs, has the
backend (:mod:`harness.backends`) provide them, lets the product install and start its programs through
the hosts' transports, and writes the inventory the product hands back (``STATE/inventory.yaml``)::

    spec = StandinsSpec(product="zato", backend="docker", servers=3)
    inv = up(spec, Path(".harness/standins/zato-1a2b"), name="zato-1a2b")
    ...
    down(inv)          # nothing is left running; ``purge=True`` also deletes the files

A product subclasses :class:`Standin` and registers it (``Product.standin``). Its ``Options`` model
checks the product's own settings (``servers``, ``edition`` …); they are given at the top level of
``standins:`` in a plan, or as ``-o KEY=VALUE`` to ``harness standins up``.
"""

from __future__ import annotations

import abc
import contextlib
import io
import logging
import secrets
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from harness import registry
from harness.backends import Backend, Host, HostSpec, backend
from harness.errors import ConfigError, SetupFailed
from harness.plan.errors import validation_error
from harness.plan.models import Inventory, StandinsSpec
from harness.procs import pidfile_pids
from harness.transports import Transport

log = logging.getLogger("harness.standins")

__all__ = ["InstallContext", "NoOptions", "Standin", "detach", "down", "kill_pidfiles", "new_env_name", "options",
           "planned_inventory", "put_tree", "standin", "summary", "up", "write_inventory"]


class NoOptions(BaseModel):
    """A stand-in that takes no settings of its own."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


@dataclass
class InstallContext:
    """What a product's installer gets: its hosts (already provisioned), its options, where to keep files."""

    environment: str
    state_dir: Path
    options: Any
    version: str
    hosts: dict[str, Host] = field(default_factory=dict)
    #: the backend's hosts vanish at teardown (containers): the product need not stop its programs
    ephemeral: bool = False
    #: only the inventory ``up`` would write is wanted (``harness plan``, a refused run): create nothing
    planned: bool = False


class Standin(abc.ABC):
    """A product's stand-ins: which hosts they need, how they are installed and started, how stopped.

    Everything on a host goes through ``host.transport`` (and ``host.path`` / ``host.peer`` /
    ``host.url``), so one installer serves every backend.
    """

    #: the product's own settings in ``standins:`` (e.g. ``servers: 3``)
    Options: ClassVar[type[BaseModel]] = NoOptions
    #: the version every node runs when ``standins.version`` is not given
    base_version: ClassVar[str] = ""

    def summary(self, options: Any) -> str:
        """What ``harness run`` prints while the stand-ins start, e.g. ``3-server Zato``."""
        return type(self).__name__

    @abc.abstractmethod
    def hosts(self, ctx: InstallContext) -> list[HostSpec]:
        """The hosts to provision, in inventory order (``ctx.hosts`` is still empty)."""

    def prepare(self, ctx: InstallContext) -> None:  # noqa: B027 - optional hook
        """Controller-side work before any host exists (build an upstream repository, a release …)."""

    @abc.abstractmethod
    def install(self, ctx: InstallContext) -> Inventory:
        """Install and start the stand-ins on ``ctx.hosts``; the inventory that reaches them."""

    @abc.abstractmethod
    def inventory(self, ctx: InstallContext) -> Inventory:
        """The inventory :meth:`install` would return, starting nothing (ports not known yet are 0)."""

    def stop(self, inventory: Inventory) -> None:  # noqa: B027 - optional hook
        """Stop every program of the environment, through the transports (not called for ephemeral hosts)."""

    # -- one component, for faults (:mod:`harness.faults`): kill and pause signal what ``pidfiles`` name,
    # ``stop`` is the product's own stop, and a killed or stopped component is started again at teardown
    def pidfiles(self, inventory: Inventory, component: str) -> list[str]:
        """The pidfiles (paths on its host) of the processes of ``component``."""
        raise ConfigError(f"the {inventory.product} stand-in names no processes for {component!r}",
                          hint="kill and pause faults need the product's Standin.pidfiles hook")

    def stop_component(self, inventory: Inventory, component: str) -> None:
        """Stop ``component`` the product's own way (``zato stop PATH``, ``canoctl stop`` …)."""
        raise ConfigError(f"the {inventory.product} stand-in cannot stop {component!r} on its own",
                          hint="stop faults need the product's Standin.stop_component hook")

    def start_component(self, inventory: Inventory, component: str) -> None:
        """Start ``component`` again and return once it is up (after a kill or stop fault)."""
        raise ConfigError(f"the {inventory.product} stand-in cannot start {component!r} on its own",
                          hint="kill and stop faults are undone by the product's Standin.start_component hook")

    # -- the crash test (:mod:`harness.crashtest`) compares these after a crashed and resumed run ------
    def digest(self, inventory: Inventory) -> dict[str, Any]:
        """The environment's end state, read from the nodes: versions, files, deployed services …"""
        raise ConfigError(f"the {inventory.product} stand-in gives no end-state digest",
                          hint="the crash test needs the product's Standin.digest hook")

    def applied(self, inventory: Inventory) -> dict[str, int]:
        """How many times each change was applied, counted from the nodes' own records (log lines …)."""
        raise ConfigError(f"the {inventory.product} stand-in counts no applied changes",
                          hint="the crash test needs the product's Standin.applied hook")

    # -- the driver's template; a product overrides these only while it is not on the seam ------------
    def up(self, spec: StandinsSpec, opts: Any, state_dir: Path, *, name: str) -> Inventory:
        be = backend(spec.backend, proxies=spec.proxies, ssh=spec.ssh)
        ok, why = be.available()
        if not ok:
            raise SetupFailed(f"the {be.NAME} backend cannot run here: {why}")
        state_dir = state_dir.resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        ctx = InstallContext(name, state_dir, opts, spec.version or self.base_version, ephemeral=be.EPHEMERAL)
        self.prepare(ctx)
        provisioned: list[Host] = []
        try:
            specs = self.hosts(ctx)
            log.info("%s: provisioning %d host(s) on the %s backend", name, len(specs), be.NAME)
            provisioned = be.provision(name, state_dir, specs)
            ctx.hosts = {h.name: h for h in provisioned}
            log.info("%s: installing %s %s", name, type(self).__name__, ctx.version)
            inv = self.install(ctx).model_copy(update={"backend": be.NAME, "state_dir": str(state_dir)})
            inv = Inventory.model_validate({**inv.model_dump(), **be.inventory_settings(state_dir)})
            write_inventory(inv, state_dir / "inventory.yaml")
        except BaseException:
            # stop whatever the install had started, through the hosts it had, then remove the hosts
            partial = None
            if ctx.hosts:
                with contextlib.suppress(Exception):
                    partial = self.inventory(ctx).model_copy(update={"backend": be.NAME})
            self._teardown(be, name, state_dir, partial)
            raise
        finally:
            for h in provisioned:
                h.close()
        return inv

    def down(self, inventory: Inventory, *, purge: bool = False) -> None:
        be = backend(inventory.backend)
        self._teardown(be, inventory.environment, Path(inventory.state_dir or "."), inventory)
        if purge and inventory.state_dir:
            shutil.rmtree(inventory.state_dir, ignore_errors=True)

    def planned_inventory(self, spec: StandinsSpec, opts: Any, state_dir: Path, *, name: str) -> Inventory:
        be = backend(spec.backend, proxies=spec.proxies, ssh=spec.ssh)
        ctx = InstallContext(name, state_dir, opts, spec.version or self.base_version, ephemeral=be.EPHEMERAL,
                             planned=True)
        ctx.hosts = {h.name: h for h in be.planned(name, state_dir, self.hosts(ctx))}
        return self.inventory(ctx).model_copy(update={"backend": be.NAME, "state_dir": str(state_dir)})

    def _teardown(self, be: Backend, name: str, state_dir: Path, inventory: Inventory | None) -> None:
        try:
            if inventory is not None and not be.EPHEMERAL:
                self.stop(inventory)
        finally:
            be.teardown(name, state_dir)


# Fixed scripts run through a host's transport: argv, never a shell string built from input; every value
# comes as an argument.
#: alive PID: running and not a zombie (a zombie still answers `kill -0`, and an orphan's zombie lingers
#: until the host's init reaps it)
_ALIVE = ('alive() { [ -r "/proc/$1/stat" ] || { kill -0 "$1" 2>/dev/null; return; }; '
          'read -r st <"/proc/$1/stat" || return 1; st=${st##*) }; [ "${st%% *}" != Z ]; }; ')
_KILL = (_ALIVE + 'for p in "$@"; do kill -TERM "$p" 2>/dev/null; done; i=0; '
         'while [ $i -lt 50 ]; do a=; for p in "$@"; do alive "$p" && a=1; done; '
         '[ -z "$a" ] && exit 0; sleep 0.05; i=$((i+1)); done; '
         'for p in "$@"; do kill -KILL "$p" 2>/dev/null; done; exit 0')
#: run "$@" in its own session, stdin closed, output appended to the log "$1", under a shell that waits for
#: it, so the program is reaped the moment it ends
_DETACH = 'log=$1; waiter=$2; shift 2; exec setsid -f sh -c "$waiter" waiter "$@" </dev/null >>"$log" 2>&1'
_WAITER = '"$@"; exit $?'
#: unpack the tar "$1" into "$2", then remove it
_UNTAR = 'set -e; mkdir -p "$2"; tar -x -f "$1" -C "$2" --no-same-owner; rm -f "$1"'


def kill_pidfiles(transport: Transport, pidfiles: list[str]) -> None:
    """Stop for good the processes the pidfiles on a host name: TERM, up to 2.5 s, then KILL (through the
    transport: the same on every backend). Missing pidfiles and pids reused since are skipped
    (:func:`harness.procs.pidfile_pids`)."""
    pids = pidfile_pids(transport, pidfiles)
    if pids:
        transport.run(["sh", "-c", _KILL, "kill", *pids], timeout=30)


def detach(log: str, argv: Sequence[str]) -> list[str]:
    """The argv that starts ``argv`` as a long-running program on a host: its own session, stdin closed,
    stdout and stderr appended to ``log``; returns at once (``transport.run(detach(...))``)."""
    return ["sh", "-c", _DETACH, "detach", log, _WAITER, *argv]


def put_tree(transport: Transport, dest: str, files: Mapping[str, bytes], *, mode: int = 0o644) -> None:
    """Put ``files`` (relative path -> bytes) under ``dest`` on a host: one tar through the transport, unpacked
    there (a put per file costs a round trip each on a container or over SSH)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel, data in sorted(files.items()):
            info = tarfile.TarInfo(rel)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    bundle = f"{dest}.tar"
    transport.put(bundle, buf.getvalue())
    transport.run(["sh", "-c", _UNTAR, "untar", bundle, dest], timeout=60).check()


def standin(product: str) -> Standin:
    """The product's :class:`Standin` (ConfigError when it has none: give an inventory of real hosts)."""
    p = registry.product(product)
    if p.standin is None:
        raise ConfigError(f"product {product!r} has no stand-ins",
                          hint="give an inventory of real hosts with --target FILE")
    obj: Standin = registry.load(p.standin)
    return obj


def options(spec: StandinsSpec) -> Any:
    """The product's settings of ``spec``, checked against its ``Options`` model (field ``standins.KEY``)."""
    st = standin(spec.product)
    try:
        return st.Options.model_validate(spec.options)
    except ValidationError as exc:
        raise validation_error(exc, st.Options, prefix=("standins",),
                               where=f"{spec.product} stand-in settings, besides product, backend and version"
                               ) from None


def summary(spec: StandinsSpec) -> str:
    return standin(spec.product).summary(options(spec))


def new_env_name(product: str) -> str:
    return f"{product}-{secrets.token_hex(4)}"


def up(spec: StandinsSpec, state_dir: Path, *, name: str | None = None) -> Inventory:
    """Bring up ``spec``'s stand-ins under ``state_dir``; the inventory (also written there)."""
    if spec.backend not in ("process", "docker"):
        raise ConfigError(f"unknown backend {spec.backend!r}", field="standins.backend")
    return standin(spec.product).up(spec, options(spec), state_dir, name=name or new_env_name(spec.product))


def planned_inventory(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    """The inventory :func:`up` would write, without starting anything: for ``harness plan`` and dry runs."""
    return standin(spec.product).planned_inventory(spec, options(spec), state_dir, name=name.strip("<>") or "new")


def down(inventory: Inventory, *, purge: bool = False) -> None:
    """Stop an environment; nothing is left running. ``purge`` also deletes its files and logs."""
    standin(inventory.product).down(inventory, purge=purge)


def write_inventory(inv: Inventory, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False))
    return path
