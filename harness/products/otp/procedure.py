"""Erlang/OTP release upgrade (or downgrade) through ``release_handler`` on N nodes (reference erlang-otp.md §3, §5).

Per node: ``unpack`` (copy ``<name>-<vsn>.tar.gz`` to ``ROOT/releases/`` + ``unpack_release``) →
``check`` (``check_install_release``) → ``install`` (``install_release``, gate ``otp.running``: the node
runs the release with all its applications; waits through the restart of a ``restart_emulator`` relup)
→ ``permanent`` (``make_permanent``).

``mode: rolling`` (default) does all four on one node before the next; ``mode: synchronised`` does each
phase on every node before the next phase (every node unpacked and checked before any installs, all
installed before any is made permanent). Note: the engine runs steps one at a time, so a relup with
``sync_nodes`` (which blocks until all nodes reach it) cannot be driven by either mode.

Params: ``release`` (required), ``mode``, ``package`` (tarball path on the controller, absolute or
relative to the plan file; default ``<facts.packages>/<name>-<release>.tar.gz``), ``name`` (default
``facts.release_name``), ``lint`` (``strict``: refuse a relup with lint errors; ``warn``: run it anyway).

Rollback: on every node where this run changed something, ``install_release`` of the release that was
permanent before, ``make_permanent`` of it, and ``remove_release`` of the release the run unpacked —
the node ends where it started. A node that restarted before ``make_permanent`` already runs the old
release: those steps are skipped.
"""

from __future__ import annotations

import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from harness.engine.procedure import Check, Done, Params, Procedure
from harness.engine.step import Gate, Step, StepStatus
from harness.environment import Environment
from harness.errors import ConfigError, PlanError, RefusedError
from harness.plan.models import Component, Inventory, Plan
from harness.products.otp.files import read_relup, relup_script
from harness.products.otp.lint_relup import lint_relup
from harness.products.otp.node import NodeDown, Releases, check_vsn, node_client, reads_releases


class UpgradeParams(Params):
    release: str = Field(description='the release version to install, quoted ("1.1": unquoted it would be a number)')
    mode: Literal["rolling", "synchronised"] = Field("rolling", description="rolling: every phase on one node "
                                                     "before the next; synchronised: each phase on every node")
    package: str | None = Field(None, description="the release tarball (systools:make_tar), relative to the plan "
                                "file; default <facts.packages>/<name>-<release>.tar.gz")
    name: str | None = Field(None, description="the release name; default the inventory's facts.release_name")
    lint: Literal["strict", "warn"] = Field("strict", description="strict: refuse a relup with lint errors")


def _nodes(plan: Plan, inv: Inventory) -> list[Component]:
    if inv.product != "otp":
        raise PlanError(f"inventory {inv.environment!r} is for product {inv.product!r}, not otp", field="target",
                        hint="use an inventory written by `harness standins up otp` or with product: otp")
    known = [c.name for c in inv.components if c.role == "node"]
    unknown = [n for n in plan.components or [] if n not in known]
    if unknown:
        raise PlanError(f"unknown node(s) {', '.join(unknown)}", field="components",
                        hint=f"the inventory {inv.environment!r} has: {', '.join(known)}")
    return [c for c in inv.components if c.role == "node" and (plan.components is None or c.name in plan.components)]


def _params(plan: Plan, params: UpgradeParams, inv: Inventory) -> dict[str, Any]:
    p = params.model_dump()
    try:
        check_vsn(str(p["release"]))
        name = check_vsn(str(p.get("name") or inv.facts.get("release_name") or ""), field="params.name")
    except ConfigError as exc:
        raise PlanError(str(exc).split("\n")[0].split(" (field")[0], field=exc.field, hint=exc.hint) from None
    mode, lint = params.mode, params.lint
    vsn = str(p["release"])
    package = plan.resolve_path(p["package"]) if p.get("package") else \
        f"{inv.facts.get('packages', '.')}/{name}-{vsn}.tar.gz"
    return {"release": vsn, "name": name, "mode": mode, "lint": lint, "package": str(package)}


def _node_steps(c: Component, a: dict[str, Any], timeout: float) -> dict[str, Step]:
    args = {"release": a["release"], "name": a["name"]}
    n = c.name
    return {
        "unpack": Step(f"unpack@{n}", n, "otp.unpack", {**args, "package": a["package"]}, compensation="otp.remove",
                       description=f"copy {a['name']}-{a['release']}.tar.gz to releases/ + unpack_release"),
        "check": Step(f"check@{n}", n, "otp.check", args, description=f"check_install_release(\"{a['release']}\")"),
        "install": Step(f"install@{n}", n, "otp.install", args, gate=Gate("otp.running", timeout),
                        compensation="otp.install", description=f"install_release(\"{a['release']}\")"),
        # its gate is the node's final check: it answers, runs the release, every application of it started
        "permanent": Step(f"permanent@{n}", n, "otp.permanent", args, gate=Gate("otp.running", timeout),
                          description=f"make_permanent(\"{a['release']}\")"),
    }


def steps(plan: Plan, params: UpgradeParams, inv: Inventory) -> list[Step]:
    nodes, a = _nodes(plan, inv), _params(plan, params, inv)
    per = [_node_steps(c, a, plan.ready_timeout) for c in nodes]
    phases = ("unpack", "check", "install", "permanent")
    if a["mode"] == "rolling":
        return [s[ph] for s in per for ph in phases]
    return [s[ph] for ph in phases for s in per]


def _package_relup(package: Path, name: str, vsn: str) -> Any:
    member = f"releases/{vsn}/relup"
    try:
        with tarfile.open(package) as tar:
            names = tar.getnames()
            if f"releases/{vsn}/{name}-{vsn}.rel" not in names and f"releases/{vsn}/{name}.rel" not in names:
                raise RefusedError(f"{package} holds no release {name} {vsn} (no releases/{vsn}/{name}-{vsn}.rel)\n"
                                   "Hint: check params.release, params.name and params.package")
            if member not in names:
                return None
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
    except (OSError, tarfile.TarError) as exc:
        raise RefusedError(f"cannot read release package {package}: {exc}\n"
                           "Hint: give the tarball systools:make_tar wrote (params.package)") from None
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "relup"
        p.write_bytes(data)
        relup = read_relup(p)
    return replace(relup, file=f"{package}:{member}")


def precheck(env: Environment, plan: Plan, params: UpgradeParams) -> None:
    """Read-only: every node answers; the package holds the release; its relup has a path from each
    node's running release and lints clean (``lint: strict``). Refuses rather than half-upgrading."""
    a = _params(plan, params, env.inventory)
    infos = {}
    for c in _nodes(plan, env.inventory):
        try:
            infos[c.name] = node_client(env.inventory, c.name).info(timeout=10)
        except NodeDown as exc:
            raise RefusedError(f"node {c.name}: {exc}") from None
    missing = [n for n, i in infos.items() if i.status_of(a["release"]) is None]
    if not missing:
        return  # the release is on every node already (a downgrade, or a re-run): release_handler checks the rest
    relup = _relup(a, missing)
    for n in missing:
        refusal = _path_refusal(relup, n, infos[n].current or "", a)
        if refusal is not None:
            raise refusal


def _relup(a: dict[str, Any], nodes: list[str]) -> Any:
    """The relup of the package the plan names; refused when the package is missing, holds no such release,
    or has no relup (``nodes``: the nodes that need it, for the message)."""
    package = Path(a["package"])
    if not package.is_file():
        raise RefusedError(f"release package {package} not found (needed on {', '.join(nodes)})\n"
                           "Hint: set params.package to the tarball systools:make_tar wrote")
    relup = _package_relup(package, a["name"], a["release"])
    if relup is None:
        raise RefusedError(f"{package} has no releases/{a['release']}/relup: install_release would fail\n"
                           "Hint: build it with systools:make_relup before make_tar")
    return relup


def _path_refusal(relup: Any, node: str, cur: str, a: dict[str, Any]) -> RefusedError | None:
    """Why node ``node``, running ``cur``, cannot take the relup to the release (None: it can): no upgrade
    script from ``cur``, or lint errors under ``lint: strict``."""
    if relup_script(relup, cur, "up") is None:
        return RefusedError(f"node {node} runs {cur}, but {relup.file} has no upgrade from {cur} "
                            f"(release_handler: no_matching_relup)\nHint: build the relup with {cur} as a base")
    errors = [f for f in lint_relup(relup, cur, a["release"]) if f.severity == "error"]
    if errors and a["lint"] == "strict":
        return RefusedError("the relup has lint errors:\n" + "\n".join(str(f) for f in errors)
                            + "\nHint: fix the relup, or set params.lint: warn to install it anyway")
    return None


def _releases(env: Environment, node: str) -> Releases:
    """The node's releases, read through the environment's transport (read-only in preflight and facts)."""
    host = next(c.host for c in env.inventory.components if c.name == node)
    return node_client(env.inventory, node, env.hosts[host].transport).releases(timeout=10)


def preflight(env: Environment, plan: Plan, params: UpgradeParams) -> list[Check]:
    """Read-only, before a window (the precheck's readers): each node answers and runs a release other than
    the target (``version``), and the package has an upgrade path from that release to the target: the
    release, its relup, an ``up`` script from the running release, no lint error (``upgrade path``)."""
    a = _params(plan, params, env.inventory)
    out: list[Check] = []
    running: dict[str, str] = {}
    for c in _nodes(plan, env.inventory):
        try:
            info = _releases(env, c.name)
        except NodeDown as exc:
            out.append(Check("version", c.name, False, str(exc), f"start node {c.name}, or fix its inventory entry"))
            continue
        cur = info.current or ""
        already = cur == a["release"]
        out.append(Check("version", c.name, bool(cur) and not already,
                         f"runs release {cur or '(none)'}, permanent {info.permanent or '(none)'}",
                         f"node {c.name} already runs {cur}: nothing to upgrade (another params.release?)"
                         if already else "" if cur else "no release is installed: check the node's RELEASES"))
        status = info.status_of(a["release"])
        if cur and not already and status is not None:  # a downgrade, or unpacked already: as the precheck
            out.append(Check("upgrade path", c.name, True, f"release {a['release']} is on the node ({status})"))
        elif cur and not already:
            running[c.name] = cur
    if not running:
        return out
    try:
        relup = _relup(a, list(running))
    except RefusedError as exc:
        msg, _, hint = str(exc).partition("\nHint: ")
        return [*out, *(Check("upgrade path", n, False, msg, hint) for n in running)]
    for n, cur in running.items():
        refusal = _path_refusal(relup, n, cur, a)
        msg, _, hint = str(refusal or "").partition("\nHint: ")
        out.append(Check("upgrade path", n, refusal is None, msg or f"{relup.file}: {cur} → {a['release']}", hint))
    return out


def facts(env: Environment, plan: Plan, params: UpgradeParams) -> dict[str, dict[str, str]]:
    """What the steps depend on, per node (``release_handler:which_releases()``): the release running now
    and the permanent one; and the sha256 of the release package the unpack step copies."""
    import hashlib

    a = _params(plan, params, env.inventory)
    package = Path(a["package"])
    digest = hashlib.sha256(package.read_bytes()).hexdigest() if package.is_file() else "(absent)"
    out: dict[str, dict[str, str]] = {}
    for c in _nodes(plan, env.inventory):
        try:
            info = _releases(env, c.name)
        except NodeDown as exc:
            raise RefusedError(f"node {c.name}: {exc}") from None
        out[c.name] = {"current release": info.current or "", "permanent release": info.permanent or "",
                       f"sha256 {package}": digest}
    return out


def rollback_steps(plan: Plan, params: UpgradeParams, inv: Inventory, done: Done) -> list[Step]:
    a = _params(plan, params, inv)
    touched: dict[str, dict[str, Any]] = {}
    for s, obs, status in done:
        node = touched.setdefault(s.node, {"before": None, "changed": False, "unpacked": False})
        node["before"] = node["before"] or obs.get("before_permanent")
        if status != StepStatus.SKIPPED and s.action in ("otp.unpack", "otp.install", "otp.permanent"):
            node["changed"] = True
        node["unpacked"] = node["unpacked"] or bool(obs.get("unpacked"))
    out: list[Step] = []
    for c in reversed(_nodes(plan, inv)):
        t = touched.get(c.name)
        if not t or not t["changed"] or not t["before"] or t["before"] == a["release"]:
            continue
        old = {"release": t["before"], "name": a["name"]}
        out.append(Step(f"rb-install@{c.name}", c.name, "otp.install", old,
                        gate=Gate("otp.running", plan.ready_timeout),
                        description=f"install_release(\"{t['before']}\")"))
        out.append(Step(f"rb-permanent@{c.name}", c.name, "otp.permanent", old,
                        description=f"make_permanent(\"{t['before']}\")"))
        if t["unpacked"]:
            out.append(Step(f"rb-remove@{c.name}", c.name, "otp.remove", {"release": a["release"], "name": a["name"]},
                            description=f"remove_release(\"{a['release']}\")"))
    return out


PROCEDURE = Procedure("otp-release-upgrade", UpgradeParams, steps, precheck, rollback_steps,
                      summary="unpack_release -> check_install_release -> install_release -> make_permanent on "
                      "every node, rolling or synchronised; rollback to the release permanent before", facts=facts,
                      preflight=preflight, read_only_commands=(reads_releases,))
