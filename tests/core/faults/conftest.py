"""A toy environment of real processes for the fault tests: two hosts, each a ``python -m http.server``
(its pidfile, its own stop and start), on the process backend with its fault proxies."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.backends import HostSpec
from harness.environment import Environment
from harness.plan.models import Component, Inventory, StandinsSpec
from harness.standins import InstallContext, Standin, detach, kill_pidfiles
from harness.wait import wait_until

PORT = 8000
_START = 'echo $$ > "$1"; shift; exec "$@"'


class ToyStandin(Standin):
    """Hooks a product gives faults: its pidfiles, its own stop, its start."""

    def hosts(self, ctx: InstallContext) -> list[HostSpec]:
        return [HostSpec(f"vm-{n}", "toy", ports=(PORT,)) for n in ("a", "b")]

    def install(self, ctx: InstallContext) -> Inventory:
        inv = self.inventory(ctx)
        for comp in inv.components:
            self.start_component(inv, comp.name)
        return inv

    def inventory(self, ctx: InstallContext) -> Inventory:
        hosts = [{"name": h.name, "transport": h.transport_spec, "install_dir": h.path("/srv")}
                 for h in ctx.hosts.values()]
        comps = [Component(name=f"web-{h.name[3:]}", role="server", host=h.name, path=h.path("/srv"),
                           url=h.url(PORT)) for h in ctx.hosts.values()]
        facts = {c.name: h.listen(PORT) for c, h in zip(comps, ctx.hosts.values(), strict=True)}
        return Inventory.model_validate({"environment": ctx.environment, "product": "toy", "hosts": hosts,
                                         "components": [c.model_dump() for c in comps], "facts": facts})

    def pidfiles(self, inventory: Inventory, component: str) -> list[str]:
        return [f"{_comp(inventory, component).path}/pid"]

    def start_component(self, inventory: Inventory, component: str) -> None:
        comp = _comp(inventory, component)
        env = Environment.from_inventory(inventory)
        t = env.components[component].host.transport
        t.run(["mkdir", "-p", comp.path], timeout=10).check()
        t.run(detach(f"{comp.path}/log", ["sh", "-c", _START, "start", f"{comp.path}/pid", sys.executable, "-m",
                                          "http.server", str(inventory.facts[component]), "--bind", "127.0.0.1",
                                          "--directory", comp.path]), timeout=10).check()
        wait_until(lambda: answers(f"http://127.0.0.1:{inventory.facts[component]}/"), timeout=30,
                   what=f"{component} to answer")
        env.close()

    def stop_component(self, inventory: Inventory, component: str) -> None:
        env = Environment.from_inventory(inventory)
        kill_pidfiles(env.components[component].host.transport, self.pidfiles(inventory, component))
        env.close()

    def stop(self, inventory: Inventory) -> None:
        for comp in inventory.components:
            self.stop_component(inventory, comp.name)


def _comp(inventory: Inventory, name: str) -> Component:
    return next(c for c in inventory.components if c.name == name)


def answers(url: str, timeout: float = 2.0) -> bool:
    try:
        return requests.get(url, timeout=timeout).ok
    except requests.RequestException:
        return False


def pid_of(inv: Inventory, component: str) -> int:
    return int(Path(f"{_comp(inv, component).path}/pid").read_text())


def state_of(pid: int) -> str:
    """The process's state letter (R, S, T stopped, Z) or "" once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


@pytest.fixture
def toy(tmp_path: Path) -> Iterator[tuple[ToyStandin, Inventory]]:
    st = ToyStandin()
    spec = StandinsSpec(product="toy", proxies=True)
    inv = st.up(spec, st.Options(), tmp_path / "toy", name=f"toy-{tmp_path.name[-12:]}")
    yield st, inv
    st.down(inv)
