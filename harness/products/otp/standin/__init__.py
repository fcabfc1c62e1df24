"""Erlang/OTP release-upgrade stand-ins: N real ``erl`` nodes, one per host, each a target system running
the sample release.

The release is built on the controller (:mod:`~harness.products.otp.standin.release`: ``erlc`` +
``systools``, cached per content hash) in :meth:`OtpStandin.prepare`; its tarballs are linked into
``STATE/packages`` (the inventory's ``packages`` fact, where the procedure's ``unpack`` takes them from).
:meth:`OtpStandin.install` then puts the first release onto every host through its transport and
installs it there as a target system with the host's own Erlang
(:mod:`~harness.products.otp.standin.target`): the same code on every backend::

    /opt/counter        the node's release root on its host (the component's ``path``)

Each node is ``ENV_HOST@ADDRESS`` (the environment's name, so environments sharing one epmd never
collide; the host's address, where ``erl_call`` on that host reaches it) with a per-environment cookie
(``STATE/cookie``). ``stop`` TERMs heart, then the emulator, through the pidfiles the node writes.

Options (``standins:`` keys / ``-o KEY=VALUE``): ``nodes``, ``variant`` (``main`` | ``restart_emulator`` |
``after_restart``, see :mod:`~harness.products.otp.standin.release`), ``heart`` (default: on for the
restart variants). ``version`` is the release every node runs at first (default ``1.0``).
"""

from __future__ import annotations

import re
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.backends import Host, HostSpec
from harness.environment import Environment
from harness.errors import ConfigError, SetupFailed
from harness.plan.models import Component, Inventory
from harness.plan.models import Host as InventoryHost
from harness.products.otp.node import node_client, node_name
from harness.products.otp.standin import target
from harness.products.otp.standin.release import BUILD_TOOLS, NAME, VARIANTS, Build, build_release
from harness.products.otp.standin.target import NodeSetup, install_node, stop_node
from harness.standins import InstallContext, Standin
from harness.transports import transport_for

__all__ = ["BASE_VERSION", "RELEASE_ROOT", "STANDIN", "OtpOptions", "OtpStandin"]

BASE_VERSION = "1.0"  # every variant's first release
RELEASE_ROOT = f"/opt/{NAME}"


class OtpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    nodes: int = Field(2, ge=1, le=16, description="target-system nodes running the sample release")
    variant: Literal["main", "restart_emulator", "after_restart"] = Field(
        "main", description="sample release variant: main, restart_emulator, after_restart")
    heart: bool | None = Field(None, description="run heart (default: on for the restart variants)")

    @property
    def with_heart(self) -> bool:
        return self.variant != "main" if self.heart is None else self.heart


def _host_name(k: int) -> str:
    return f"node{k}"


def _node(environment: str, host: Host) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_]', '_', environment)}_{host.name}@{host.address}"


def _check_version(ctx: InstallContext) -> None:
    versions = [v for v, _, _ in VARIANTS[ctx.options.variant]]
    if ctx.version not in versions:
        raise ConfigError(f"the {ctx.options.variant!r} sample release has no version {ctx.version!r}",
                          field="standins.version", hint=f"use one of: {', '.join(versions)}")


def _link_packages(packages: Path, into: Path) -> None:
    """The build's tarballs under the environment's own ``packages`` directory (hard links where they can be)."""
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    for src in sorted(packages.iterdir()):
        try:
            (into / src.name).hardlink_to(src)
        except OSError:
            shutil.copy2(src, into / src.name)


class OtpStandin(Standin):
    Options = OtpOptions
    base_version = BASE_VERSION

    def summary(self, options: OtpOptions) -> str:
        return f"{options.nodes}-node OTP release"

    def release(self, options: OtpOptions) -> Build:
        """The sample release the nodes boot and are upgraded to (built once, cached)."""
        return build_release(options.variant)

    def hosts(self, ctx: InstallContext) -> list[HostSpec]:
        return [HostSpec(_host_name(k), "otp") for k in range(1, ctx.options.nodes + 1)]

    def prepare(self, ctx: InstallContext) -> None:
        _check_version(ctx)
        missing = [t for t in BUILD_TOOLS if shutil.which(t) is None]
        if missing:
            raise SetupFailed(f"building the sample release needs {', '.join(missing)} on this machine\n"
                              "Hint: apt-get install erlang-base")
        build = self.release(ctx.options)
        _link_packages(build.packages_dir, ctx.state_dir / "packages")
        cookie = ctx.state_dir / "cookie"
        cookie.write_text("c" + secrets.token_hex(10))
        cookie.chmod(0o600)

    def install(self, ctx: InstallContext) -> Inventory:
        inv = self.inventory(ctx)
        build = self.release(ctx.options)
        package = build.package(ctx.version).read_bytes()

        def one(c: Component) -> None:
            install_node(ctx.hosts[c.host], NodeSetup(
                root=c.path, node=node_name(c.url), cookie=inv.facts["cookie"], heart=ctx.options.with_heart,
                release=NAME, version=ctx.version, erts_vsn=build.erts_vsn), package)

        with ThreadPoolExecutor(max_workers=4) as pool:  # every node at once: each boots in ≈1 s
            list(pool.map(one, inv.components))
        return inv

    def inventory(self, ctx: InstallContext) -> Inventory:
        _check_version(ctx)
        hosts, comps = [], []
        for k in range(1, ctx.options.nodes + 1):
            host = ctx.hosts[_host_name(k)]
            root = host.path(RELEASE_ROOT)
            hosts.append(InventoryHost(name=host.name, transport=host.transport_spec, install_dir=root))
            comps.append(Component(name=host.name, role="node", host=host.name, path=root,
                                   url=f"erl://{_node(ctx.environment, host)}"))
        cookie = ctx.state_dir / "cookie"
        facts = {"cookie": cookie.read_text() if cookie.exists() else "planned", "release_name": NAME,
                 "variant": ctx.options.variant, "heart": ctx.options.with_heart,
                 "packages": str(ctx.state_dir / "packages"), "erl_call": "erl_call", "start_command": "bin/start"}
        return Inventory(environment=ctx.environment, product="otp", front_door=None, state_dir=str(ctx.state_dir),
                         hosts=hosts, components=comps, facts=facts)

    def stop(self, inventory: Inventory) -> None:
        """Every node at once: a node takes ≈2.5 s to stop on TERM (``init:stop()``), then it is KILLed."""
        env = Environment.from_inventory(inventory)
        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda c: stop_node(c.host.transport, c.path), env.components.values()))
        finally:
            env.close()

    # -- one node, for faults (harness.faults): heart's and the emulator's pids, stop, `bin/start` -------
    def pidfiles(self, inventory: Inventory, component: str) -> list[str]:
        return target.pidfiles(next(c for c in inventory.components if c.name == component).path)

    def stop_component(self, inventory: Inventory, component: str) -> None:
        comp = next(c for c in inventory.components if c.name == component)
        t = transport_for(inventory.host(comp.host).transport)
        try:
            stop_node(t, comp.path)
        finally:
            t.close()

    def start_component(self, inventory: Inventory, component: str) -> None:
        """``bin/start``: the node boots the release ``start_erl.data`` names (the permanent one)."""
        client = node_client(inventory, component)
        try:
            res = client.transport.run([f"{client.root}/bin/start"], timeout=30)
            if not res.ok:
                raise SetupFailed(f"{component}: bin/start exited {res.exit_code}: {res.stderr}")
            client.wait_up(target.START_TIMEOUT)
        finally:
            client.transport.close()

    def digest(self, inventory: Inventory) -> dict[str, Any]:
        """Per node: its releases and their statuses (``which_releases``), and the running applications."""
        out: dict[str, Any] = {}
        for comp in inventory.components:
            client = node_client(inventory, comp.name)
            try:
                info = client.info()
                out[f"{comp.name} releases"] = {r.vsn: r.status for r in info.releases}
                out[f"{comp.name} apps"] = dict(info.apps)
            finally:
                client.transport.close()
        return out

    def applied(self, inventory: Inventory) -> dict[str, int]:
        """Per node, each unpack, install, make_permanent and remove release_handler answered, with its
        outcome (``NODE CALL ARG ok|error``), from the node's own ``log/release_handler.log``
        (:data:`~harness.products.otp.standin.target.RH_LOG`): an install done twice shows here."""
        out: dict[str, int] = {}
        for comp in inventory.components:
            client = node_client(inventory, comp.name)
            try:
                try:
                    text = client.transport.get(f"{comp.path}/{target.RH_LOG}").decode(errors="replace")
                except FileNotFoundError:
                    text = ""
            finally:
                client.transport.close()
            for line in text.splitlines():
                key = f"{comp.name} {' '.join(line.split(chr(9)))}"
                out[key] = out.get(key, 0) + 1
        return out


STANDIN = OtpStandin()
