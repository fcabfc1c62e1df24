"""How each fault kind acts on a node, and how it is undone (the backend decides, never the product).

A process is signalled through its host's transport (``kill -STOP`` runs on the host, so the same code
serves local hosts, containers and SSH hosts); a container host is paused and cut off through the
Docker engine; a process-backend host's links go through its fault proxy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ConfigError, HarnessError
from harness.plan.models import Inventory
from harness.procs import pidfile_pids
from harness.wait import wait_until

if TYPE_CHECKING:
    from harness.standins import Standin
    from harness.transports import Transport

Undo = Callable[[], None]

#: every process of the host as "PID PPID" lines (from /proc: a server's workers are paused with it)
_PROCESSES = ('for s in /proc/[0-9]*/stat; do read -r st <"$s" 2>/dev/null || continue; p=${s#/proc/}; '
              'rest=${st##*) }; set -- $rest; echo "${p%/stat} $2"; done')
#: the state letter (R, S, T, Z …) of each of the pids "$@" still there
_STATES = ('for p; do [ -r "/proc/$p/stat" ] || continue; read -r st <"/proc/$p/stat" || continue; '
           'st=${st##*) }; echo "${st%% *}"; done')
#: exit 0 when any of the pids "$@" runs and is not a zombie
_ANY_ALIVE = ('for p; do [ -r "/proc/$p/stat" ] || continue; read -r st <"/proc/$p/stat" || continue; '
              'st=${st##*) }; [ "${st%% *}" != Z ] && exit 0; done; exit 1')


@dataclass
class Actor:
    inventory: Inventory
    hooks: Standin
    transport: Transport
    host: str
    components: list[str]

    def do(self, kind: str, delay_ms: int) -> Undo:
        doer: dict[str, Callable[[], Undo]] = {"kill": self.kill, "pause": self.pause, "stop": self.stop,
                                               "cut": self.cut, "slow": lambda: self.slow(delay_ms)}
        if kind not in doer:
            raise ConfigError(f"unknown fault kind {kind!r}", hint=f"use one of: {', '.join(doer)}")
        return doer[kind]()

    # --- processes -------------------------------------------------------------------------------
    def pids(self, component: str) -> list[str]:
        return pidfile_pids(self.transport, self.hooks.pidfiles(self.inventory, component))

    def alive(self, pids: list[str]) -> bool:
        return bool(pids) and self.transport.run(["sh", "-c", _ANY_ALIVE, "alive", *pids], timeout=30).ok

    def _tree(self, pids: list[str]) -> list[str]:
        """``pids`` and all their descendants."""
        children: dict[str, list[str]] = {}
        for line in self.transport.run(["sh", "-c", _PROCESSES], timeout=30).check().stdout.splitlines():
            pid, _, ppid = line.partition(" ")
            children.setdefault(ppid, []).append(pid)
        out, todo = [], list(pids)
        while todo:
            pid = todo.pop()
            if pid not in out:
                out.append(pid)
                todo.extend(children.get(pid, []))
        return out

    def _signal(self, sig: str, pids: list[str]) -> None:
        self.transport.run(["kill", f"-{sig}", *pids], timeout=30)  # one already gone is no error here

    def _all_pids(self) -> dict[str, list[str]]:
        pids = {c: self.pids(c) for c in self.components}
        if not any(pids.values()):
            raise HarnessError(f"no running process of {', '.join(self.components)} (no pidfile names one)")
        return pids

    def kill(self) -> Undo:
        pids = self._all_pids()
        flat = self._tree([p for ps in pids.values() for p in ps])
        self._signal("KILL", flat)
        wait_until(lambda: not self.alive(flat), timeout=30, what=f"{', '.join(self.components)} to die")
        return self._restart()

    def _restart(self) -> Undo:
        def undo() -> None:
            for comp in self.components:
                if not self.alive(self.pids(comp)):  # the run (or its rollback) may have started it already
                    self.hooks.start_component(self.inventory, comp)
        return undo

    def pause(self) -> Undo:
        if self._container():
            return self._docker_pause()
        pids = self._tree([p for ps in self._all_pids().values() for p in ps])
        self._signal("STOP", pids)
        # a signal is delivered asynchronously: the fault is made once every process is stopped
        wait_until(lambda: all(st == "T" for st in self._states(pids)), timeout=30,
                   what=f"{', '.join(self.components)} to stop (SIGSTOP)")

        def undo() -> None:
            self._signal("CONT", pids)
            wait_until(lambda: "T" not in self._states(pids), timeout=30,
                       what=f"{', '.join(self.components)} to continue (SIGCONT)")
        return undo

    def _states(self, pids: list[str]) -> list[str]:
        return self.transport.run(["sh", "-c", _STATES, "states", *pids], timeout=30).stdout.split()

    def stop(self) -> Undo:
        for comp in self.components:
            self.hooks.stop_component(self.inventory, comp)
        return self._restart()

    # --- links -----------------------------------------------------------------------------------
    def _proxy(self) -> int:
        state = Path(self.inventory.state_dir or ".") / "proxies" / f"{self.host}.json"
        try:
            return int(json.loads(state.read_text())["control"])
        except FileNotFoundError:
            raise ConfigError(f"host {self.host} has no fault proxy in front of its ports",
                              hint="start the stand-ins with `proxies: true` under `standins:` (process "
                                   "backend), or use the docker backend") from None

    def cut(self) -> Undo:
        if self._container():
            return self._docker_disconnect()
        from harness.faults.proxy import control

        port = self._proxy()
        control(port, "cut")
        return lambda: _heal(port)

    def slow(self, delay_ms: int) -> Undo:
        if self._container():
            raise ConfigError("slow faults need the process backend's fault proxy",
                              hint="run the stand-ins on the process backend with `proxies: true`")
        from harness.faults.proxy import control

        port = self._proxy()
        control(port, f"slow {delay_ms}")
        return lambda: _heal(port)

    # --- containers ------------------------------------------------------------------------------
    def _container(self) -> str | None:
        spec = self.inventory.host(self.host).transport
        return spec.removeprefix("docker://") if spec.startswith("docker://") else None

    def _docker(self) -> Any:
        import docker

        return docker.from_env().containers.get(self._container())

    def _docker_pause(self) -> Undo:
        c = self._docker()
        c.pause()

        def undo() -> None:
            c.reload()
            if c.status == "paused":
                c.unpause()
        return undo

    def _docker_disconnect(self) -> Undo:
        import docker

        c = self._docker()
        client = docker.from_env()
        nets = {name: (cfg or {}).get("Aliases") or [] for name, cfg in
                c.attrs["NetworkSettings"]["Networks"].items()}
        for name in nets:
            client.networks.get(name).disconnect(c)

        def undo() -> None:
            for name, aliases in nets.items():
                client.networks.get(name).connect(c, aliases=[a for a in aliases if a != c.id[:12]] or None)
        return undo


def _heal(port: int) -> None:
    from harness.faults.proxy import control

    control(port, "heal")
