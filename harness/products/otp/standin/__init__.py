"""Erlang/OTP release-upgrade stand-ins: N real ``erl`` nodes, each running the sample release from its own root.

Process backend only. Each node is a target system as the OTP reference (§5) builds it, with no erts
copy (erlexec comes from the system's ``erts-V/bin``)::

    STATE/nodes/nodeK/                     the release root (code:root_dir())
        lib/App-Vsn/ releases/{RELEASES, start_erl.data, Vsn/{start.boot, sys.config, relup, counter-Vsn.rel}}
        bin/start [DATAFILE]               boots the release named in start_erl.data (heart runs it too)
        log/start.log                      erlexec's own output

Nodes are ``-detached`` (heart restarts make them children of heart, not of us), named
``otp<worker><salt>_K@127.0.0.1`` with a per-environment cookie; distribution listens on 127.0.0.1
only (``inet_dist_use_interface``) and an epmd we start binds 127.0.0.1 (``ERL_EPMD_ADDRESS``).
``down`` asks each node to ``init:stop()``, then SIGKILLs whatever still runs from the node's root
(heart first, so it cannot restart the node), found by pid through ``/proc``.

Options (``StandinsSpec.options`` / ``-o KEY=VALUE``): ``variant`` (``main`` | ``restart_emulator`` |
``after_restart``, see :mod:`harness.products.otp.standin.release`), ``heart`` (default: on for the restart
variants). ``version`` is the release every node runs at first (default the variant's first).
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.standins import LegacyStandin
import yaml

from harness.errors import ConfigError, SetupFailed
from harness.plan.models import Component, Host, Inventory, StandinsSpec
from harness.products.otp.node import NodeClient, NodeDown
from harness.products.otp.standin.release import VARIANTS, Build, build_release, erlang_available

__all__ = ["down", "kill_node", "node_client", "planned_inventory", "start_node", "up"]

START_TIMEOUT = 30.0


@dataclass(frozen=True)
class _Options:
    variant: str
    heart: bool
    version: str | None


def _options(spec: StandinsSpec) -> _Options:
    opts = dict(spec.options)
    variant = str(opts.pop("variant", "main"))
    if variant not in VARIANTS:
        raise ConfigError(f"unknown otp stand-in variant {variant!r}", field="standins.options.variant",
                          hint=f"use one of: {', '.join(VARIANTS)}")
    heart_opt = opts.pop("heart", None)
    heart = variant != "main" if heart_opt is None else str(heart_opt).lower() in ("1", "true", "yes", "on")
    if opts:
        raise ConfigError(f"unknown otp stand-in option(s) {', '.join(sorted(opts))}", field="standins.options",
                          hint="known: variant, heart")
    versions = [v for v, _, _ in VARIANTS[variant]]
    if spec.version is not None and spec.version not in versions:
        raise ConfigError(f"the {variant!r} sample release has no version {spec.version!r}",
                          field="standins.version", hint=f"use one of: {', '.join(versions)}")
    return _Options(variant, heart, spec.version)


def _salt() -> str:
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'm')}{secrets.token_hex(3)}"


def _erl_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _start_script(root: Path, erl_root: str, node: str, cookie: str, heart: bool) -> str:
    q = shlex.quote
    return f"""#!/bin/sh
# Boot this node's release: bin/start [DATAFILE]. DATAFILE holds "ErtsVsn RelVsn" (default
# releases/start_erl.data); heart runs this with releases/new_start_erl.data on restart_emulator.
# Written by harness.products.otp.standin.
ROOTDIR={q(str(root))}
DATA="${{1:-$ROOTDIR/releases/start_erl.data}}"
read -r ERTS_VSN REL_VSN < "$DATA" || [ -n "$REL_VSN" ] || exit 1  # release_handler writes no final newline
BINDIR={q(erl_root)}/erts-$ERTS_VSN/bin
EMU=beam
PROGNAME=erl
ERL_EPMD_ADDRESS=127.0.0.1
HEART_COMMAND="$ROOTDIR/bin/start"
export ROOTDIR BINDIR EMU PROGNAME ERL_EPMD_ADDRESS HEART_COMMAND
cd "$ROOTDIR" || exit 1
exec "$BINDIR/erlexec" -boot "$ROOTDIR/releases/$REL_VSN/start" -config "$ROOTDIR/releases/$REL_VSN/sys" \\
  -name {q(node)} -setcookie {q(cookie)} -noinput -detached \\
  -kernel inet_dist_use_interface '{{127,0,0,1}}' {'-heart' if heart else ''} >> "$ROOTDIR/log/start.log" 2>&1
"""


def _install_root(build: Build, vsn: str, root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
    (root / "log").mkdir(parents=True)
    (root / "tmp").mkdir()
    proc = subprocess.run(["tar", "xzf", str(build.package(vsn)), "-C", str(root)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise SetupFailed(f"cannot unpack {build.package(vsn)} into {root}: {proc.stderr}")
    (root / "releases" / "start_erl.data").write_text(f"{build.erts_vsn} {vsn}\n")


def _create_releases(build: Build, vsn: str, roots: list[Path]) -> None:
    pairs = ",".join("{" + _erl_str(str(r)) + "," + _erl_str(str(r / "releases" / vsn / f"{build.name}-{vsn}.rel"))
                     + "}" for r in roots)
    expr = (f"lists:foreach(fun({{R, F}}) -> ok = release_handler:create_RELEASES(R, R ++ \"/releases\", F, []) "
            f"end, [{pairs}]), halt().")
    proc = subprocess.run(["erl", "-noshell", "-eval", expr], capture_output=True, text=True, timeout=60,
                          check=False)
    if proc.returncode != 0:
        raise SetupFailed(f"release_handler:create_RELEASES failed:\n{proc.stdout}{proc.stderr}")


def node_client(inv: Inventory, component: str) -> NodeClient:
    """A client for one node of an OTP inventory (stand-in or real: the same facts)."""
    c = next(c for c in inv.components if c.name == component)
    host = inv.host(c.host)
    from harness.transports import transport_for

    return NodeClient(transport_for(host.transport), node_name(c.url), inv.facts["cookie"], c.path,
                      erl_call=str(inv.facts.get("erl_call", "erl_call")))


def node_name(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if scheme != "erl" or not sep or "@" not in rest:
        raise ConfigError(f"not an Erlang node URL: {url!r}", field="components.url",
                          hint="write erl://NAME@127.0.0.1")
    return rest


def start_node(root: Path, *, env: dict[str, str] | None = None) -> None:
    """Run ``ROOT/bin/start`` (returns at once: the node detaches)."""
    proc = subprocess.run([str(root / "bin" / "start")], capture_output=True, text=True, timeout=30,
                          check=False, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise SetupFailed(f"{root}/bin/start exited {proc.returncode}: {proc.stderr}{_tail(root / 'log/start.log')}")


def up(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    if spec.backend != "process":
        raise ConfigError("otp stand-ins run on the process backend only", field="standins.backend",
                          hint="use backend: process")
    if not erlang_available():
        raise SetupFailed("erl, erlc, escript and erl_call are needed\nHint: apt-get install erlang-base erlang-dev")
    opts = _options(spec)
    build = build_release(opts.variant)
    vsn = opts.version or build.versions[0]
    state_dir = state_dir.resolve()
    inv = _inventory(spec, state_dir, name=name, opts=opts, build=build, salt=_salt(),
                     cookie="c" + secrets.token_hex(10))
    roots = [Path(c.path) for c in inv.components]
    for comp, root in zip(inv.components, roots, strict=True):
        _install_root(build, vsn, root)
        start = root / "bin" / "start"
        start.parent.mkdir(exist_ok=True)
        start.write_text(_start_script(root, build.erl_root, node_name(comp.url), inv.facts["cookie"], opts.heart))
        start.chmod(0o755)
    _create_releases(build, vsn, roots)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "inventory.yaml").write_text(yaml.safe_dump(inv.model_dump(mode="json"), sort_keys=False))
    try:
        for root in roots:
            start_node(root)
        for comp in inv.components:
            try:
                node_client(inv, comp.name).wait_up(START_TIMEOUT)
            except NodeDown as exc:
                raise SetupFailed(f"{exc}\n{_tail(Path(comp.path) / 'log/start.log')}\n"
                                  "Hint: is epmd startable on 127.0.0.1?") from exc
    except BaseException:
        down(inv)
        raise
    return inv


def _inventory(spec: StandinsSpec, state_dir: Path, *, name: str, opts: _Options, build: Build | None,
               salt: str, cookie: str) -> Inventory:
    hosts, comps = [], []
    for k in range(1, spec.nodes + 1):
        root = state_dir / "nodes" / f"node{k}"
        hosts.append(Host(name=f"node{k}", transport="local", install_dir=str(root)))
        comps.append(Component(name=f"node{k}", role="node", host=f"node{k}", path=str(root),
                               url=f"erl://otp{salt}_{k}@127.0.0.1"))
    facts = {"cookie": cookie, "release_name": "counter", "variant": opts.variant, "heart": opts.heart,
             "packages": str(build.packages_dir) if build else str(state_dir / "packages"), "erl_call": "erl_call",
             "start_command": "bin/start"}
    return Inventory(environment=name, product="otp", backend="process", hosts=hosts, components=comps,
                     state_dir=str(state_dir), facts=facts)


def planned_inventory(spec: StandinsSpec, state_dir: Path, *, name: str) -> Inventory:
    """The inventory :func:`up` would write, without building or starting anything."""
    return _inventory(spec, state_dir, name=name.strip("<>") or "new", opts=_options(spec), build=None,
                      salt="X", cookie="planned")


# --- stopping ---------------------------------------------------------------------------------------

def _procs() -> dict[int, tuple[int, str, str]]:
    """pid -> (ppid, comm, cmdline) for every process we can read."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        out[int(d.name)] = (ppid, comm, cmd)
    return out


def _node_pids(root: Path) -> list[int]:
    """Our processes of one node: whatever runs from its root (beam, bin/start) and its descendants, heart first."""
    procs = _procs()
    mark = f"{root}/"
    own = {p for p, (_, _, cmd) in procs.items() if mark in cmd and p != os.getpid()}
    family = set(own)
    for _ in range(4):  # beam -> erl_child_setup -> heart: a bounded walk down the tree
        family |= {p for p, (pp, _, _) in procs.items() if pp in family}
    hearts = {p for p in family if procs[p][1] == "heart"}
    return sorted(hearts) + sorted(family - hearts)


def kill_node(root: Path) -> list[int]:
    """SIGKILL every process of the node (heart first, or it would restart the node); returns the pids."""
    pids = _node_pids(root)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def down(inv: Inventory, *, purge: bool = False) -> None:
    """Stop every node (``init:stop()``, then SIGKILL what is left); nothing is left running."""
    for comp in inv.components:
        root = Path(comp.path)
        if _node_pids(root):
            try:
                node_client(inv, comp.name).call("stop", timeout=5)
            except (NodeDown, Exception):  # noqa: BLE001 - best effort; the kill below is the guarantee
                pass
    deadline = time.monotonic() + 10
    roots = [Path(c.path) for c in inv.components]
    while any(_node_pids(r) for r in roots) and time.monotonic() < deadline:
        time.sleep(0.1)
    for r in roots:
        kill_node(r)
    if purge and inv.state_dir:
        shutil.rmtree(inv.state_dir, ignore_errors=True)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class OtpOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    nodes: int = Field(2, ge=1, le=16, description="target-system nodes running the sample release")
    variant: str = Field("main", description="sample release variant: main, restart_emulator, after_restart")
    heart: bool | None = Field(None, description="run heart (default: on for the restart variants)")


class OtpStandin(LegacyStandin):
    Options = OtpOptions
    module = "harness.products.otp.standin"

    def summary(self, options: OtpOptions) -> str:
        return f"{options.nodes}-node OTP release"


STANDIN = OtpStandin()
