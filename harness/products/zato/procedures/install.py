"""Zato service installation (reference zato.md §1.6-1.8): hot-deploy, service-sources.txt, zato_extra_paths.

``zato-hot-deploy`` (params ``method: pickup|web-admin``, ``files: [path]`` and/or ``sources: {name.py: text}``,
optional ``invoke: {service: payload}``, ``admin_user``/``admin_password`` for web-admin)::

    deploy@server1 | upload@web-admin   drop the modules (one server) / upload them; gate: every server
                                        confirmed each package (log line + ODB status)
    invoke@load-balancer                call the services through the load balancer

``zato-service-sources`` (``files``/``sources`` of flat modules, ``directory`` default ``user-services``,
``entries`` extra lines such as dotted module names, ``invoke``): on every server, the modules go to
``SERVER/<directory>/`` and ``./<directory>`` into ``service-sources.txt`` (before its last line);
then every server is restarted one by one behind the load balancer (the restart steps of
:mod:`harness.products.zato.procedures.update`).

``zato-extra-paths`` (``packages: [dir]`` and/or ``package_sources: {pkg/mod.py: text}``, ``modules: [dotted
module names to add to service-sources.txt]``, ``invoke``): the packages go to ``<install dir>/zato_extra_paths``
on every server host, the module names into each server's ``service-sources.txt``; rolling restart.

Rollback: hot-deploy redeploys the source each module had before the run (kept in the journal); a
module that did not exist before cannot be removed by hot-deploy: when it is deployed, the rollback
ends indeterminate naming it (``zato.cannot_undo``), never "rolled back". Static installs put the
previous files back and restart the servers again.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from harness.engine.procedure import Done, Params, Procedure
from harness.engine.step import Gate, Step, StepStatus
from harness.environment import Environment
from harness.errors import PlanError, RefusedError
from harness.plan.models import Component, Inventory, Plan
from harness.products.zato import odb
from harness.products.zato.deploy import HOT_DEPLOY_DIR, payload_arg
from harness.products.zato.hotdeploy import Payload, load_payloads, refusal, service_names
from harness.products.zato.procedures.update import restart_steps, verify_step  # one definition of each

_FILES: list[str] = Field(default_factory=list, description="flat modules to install, relative to the plan file")
_SOURCES: dict[str, str] = Field(default_factory=dict, description="inline modules: {name.py: source text}")
_INVOKE = Field(None, description="services to call through the load balancer afterwards: {service: payload}; "
                "default every service the modules define")


class HotDeployParams(Params):
    method: Literal["pickup", "web-admin"] = Field("pickup", description="drop into one server's pickup dir, "
                                                   "or upload through web-admin")
    files: list[str] = _FILES
    sources: dict[str, str] = _SOURCES
    invoke: dict[str, Any] | None = _INVOKE
    admin_user: str | None = Field(None, description="web-admin login (method web-admin)")
    admin_password: str | None = Field(None, description="web-admin password (method web-admin)")


class ServiceSourcesParams(Params):
    files: list[str] = _FILES
    sources: dict[str, str] = _SOURCES
    directory: str = Field("user-services", description="directory under each server for the modules")
    entries: list[str] = Field(default_factory=list, description="more service-sources.txt lines "
                               "(dotted module names, directories)")
    invoke: dict[str, Any] | None = _INVOKE


class ExtraPathsParams(Params):
    packages: list[str] = Field(default_factory=list, description="package directories, relative to the plan file")
    package_sources: dict[str, str] = Field(default_factory=dict, description="inline files: {pkg/mod.py: text}")
    modules: list[str] = Field(default_factory=list, description="dotted module names to add to "
                               "service-sources.txt")
    invoke: dict[str, Any] | None = _INVOKE


InstallParams = HotDeployParams | ServiceSourcesParams | ExtraPathsParams


def _servers(inv: Inventory) -> list[Component]:
    servers = inv.by_role("server")
    if not servers:
        raise PlanError(f"the inventory {inv.environment!r} has no server", field="target")
    return servers


def _checked(payloads: list[Payload]) -> list[Payload]:
    for p in payloads:
        err = refusal(p)
        if err is not None:
            raise err
    return payloads


def _calls(params: InstallParams, payloads: list[Payload]) -> list[dict[str, Any]]:
    if params.invoke:
        return [{"service": s, "payload": p or {}} for s, p in params.invoke.items()]
    return [{"service": s} for p in payloads for s in service_names(p.data, p.name)]


def _invoke_step(params: InstallParams, inv: Inventory, payloads: list[Payload]) -> list[Step]:
    calls = _calls(params, payloads)
    lb = inv.by_role("load-balancer")
    if not calls or not lb:
        return []
    return [Step(f"invoke@{lb[0].name}", lb[0].name, "zato.invoke", {"calls": calls},
                 description=f"invoke {', '.join(c['service'] for c in calls)} through the load balancer")]


def _hot_deploy(plan: Plan, params: HotDeployParams, inv: Inventory) -> list[Step]:
    payloads = _checked(load_payloads(params.model_dump(), plan.resolve_path))
    method = params.method
    args: dict[str, Any] = {"method": method,
                            "payloads": [payload_arg(p, inline=p.origin == "<inline>") for p in payloads]}
    for key in ("admin_user", "admin_password"):
        if getattr(params, key) is not None:
            args[key] = getattr(params, key)
    names = ", ".join(p.name for p in payloads)
    gate = Gate("zato.deployed", plan.ready_timeout)
    if method == "web-admin":
        wa = inv.by_role("web-admin")
        if not wa:
            raise PlanError("method web-admin needs a web-admin component in the inventory", field="params.method")
        step = Step(f"upload@{wa[0].name}", wa[0].name, "zato.hot_deploy", args, gate=gate,
                    compensation="zato.hot_deploy",
                    description=f"upload {names} through web-admin (/zato/service/upload/)")
    else:
        s = _servers(inv)[0]
        step = Step(f"deploy@{s.name}", s.name, "zato.hot_deploy", args, gate=gate, compensation="zato.hot_deploy",
                    description=f"drop {names} into {s.name}'s pickup/incoming/services")
    return [step, *_invoke_step(params, inv, payloads), *verify_step(inv)]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _package_files(plan: Plan, params: ExtraPathsParams) -> dict[str, bytes]:
    """``relative path -> bytes`` of the packages to put in zato_extra_paths."""
    out: dict[str, bytes] = {}
    for i, d in enumerate(params.packages):
        root = plan.resolve_path(str(d))
        if not (root / "__init__.py").is_file():
            raise PlanError(f"{root} is not a Python package (no __init__.py)", file=str(root),
                            field=f"params.packages[{i}]", hint="give a package directory; flat modules go with "
                            "zato-service-sources or zato-hot-deploy")
        for f in sorted(root.rglob("*.py")):
            if "__pycache__" not in f.parts:
                out[f"{root.name}/{f.relative_to(root).as_posix()}"] = f.read_bytes()
    for rel, text in params.package_sources.items():
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise PlanError(f"{rel}: the path escapes zato_extra_paths", field=f"params.package_sources.{rel}",
                            hint="give a path relative to zato_extra_paths, e.g. acme/api.py")
        out[rel] = str(text).encode()
    if not out:
        raise PlanError("no package given", field="params.packages", hint="packages: [path/to/pkg]")
    for rel, data in out.items():
        try:
            compile(data, rel, "exec")
        except SyntaxError as exc:
            raise PlanError(f"{rel}: syntax error: {exc.msg}", line=exc.lineno, field="params.packages",
                            hint="fix the syntax before installing") from None
    return out


def _static(plan: Plan, params: ServiceSourcesParams | ExtraPathsParams, inv: Inventory) -> list[Step]:
    servers = _servers(inv)
    out: list[Step] = []
    payloads: list[Payload] = []
    if isinstance(params, ServiceSourcesParams):
        payloads = _checked(load_payloads(params.model_dump(), plan.resolve_path))
        directory = params.directory.strip("/")
        if not directory or ".." in Path(directory).parts:
            raise PlanError(f"directory {directory!r} must stay inside the server directory", field="params.directory")
        entries = [f"./{directory}", *params.entries]
        for s in servers:
            files = {f"{s.path}/{directory}/{p.name}": _b64(p.data) for p in payloads}
            out.append(Step(f"sources@{s.name}", s.name, "zato.put_files",
                            {"files": files, "service_sources": {"path": f"{s.path}/config/repo/service-sources.txt",
                                                                 "entries": entries}},
                            compensation="zato.restore_files",
                            description=f"copy {len(payloads)} module(s) to {directory}/, add {', '.join(entries)} "
                                        f"to service-sources.txt"))
    else:
        package = _package_files(plan, params)
        for host in dict.fromkeys(s.host for s in servers):
            base = f"{inv.host(host).install_dir}/zato_extra_paths"
            out.append(Step(f"extra-paths@{host}", host, "zato.put_files",
                            {"files": {f"{base}/{rel}": _b64(d) for rel, d in package.items()}},
                            compensation="zato.restore_files",
                            description=f"put {len(package)} file(s) in {base}"))
        modules = list(params.modules)
        if modules:
            for s in servers:
                out.append(Step(f"sources@{s.name}", s.name, "zato.put_files",
                                {"files": {}, "service_sources": {"path": f"{s.path}/config/repo/service-sources.txt",
                                                                  "entries": modules}},
                                compensation="zato.restore_files",
                                description=f"add {', '.join(modules)} to service-sources.txt"))
    out += restart_steps(servers, sync_servers=False, force=True, timeout=plan.ready_timeout)
    return [*out, *_invoke_step(params, inv, payloads), *verify_step(inv)]


def steps(plan: Plan, params: InstallParams, inv: Inventory) -> list[Step]:
    if isinstance(params, HotDeployParams):
        return _hot_deploy(plan, params, inv)
    return _static(plan, params, inv)


def precheck(env: Environment, plan: Plan, params: InstallParams) -> None:
    """Read-only: what steps() checked locally, plus what only the environment can tell."""
    import requests

    steps(plan, params, env.inventory)  # payload refusals (re-read: a file may have changed since planning)
    for s in odb.servers(env):
        try:
            ok = "ZATO_OK" in requests.get(f"{s.url}/zato/ping", timeout=3).text
        except requests.RequestException:
            ok = False
        if not ok:
            raise RefusedError(f"server {s.name} does not answer /zato/ping: a deployment would wait for it\n"
                               f"Hint: start it (`zato start {s.path}`) and run again")
    if not isinstance(params, HotDeployParams):
        return
    rows = odb.deployed_services(env)
    for p in load_payloads(params.model_dump(), plan.resolve_path):
        for name in service_names(p.data, p.name):
            owners = {r.source_path for r in rows if (r.service == name and r.payload_name != p.name)
                      or (r.service == name and HOT_DEPLOY_DIR not in r.source_path)}
            if owners:
                raise PlanError(f"{p.name}: service {name!r} is already deployed from {sorted(owners)[0]}",
                                file=p.origin if p.origin != "<inline>" else None, field=p.field,
                                hint="rename the service (its `name` attribute or class) or deploy the new "
                                     "version of the module that owns it")


def hot_deploy_facts(env: Environment, plan: Plan, params: HotDeployParams) -> dict[str, dict[str, str]]:
    """What a hot-deploy depends on: the sha256 of each module it deploys (under the step's node), and what is
    in every server's pickup dir now (read-only: ``ls``)."""
    step = steps(plan, params, env.inventory)[0]
    out = {step.node: {f"sha256 {p.name}": hashlib.sha256(p.data).hexdigest()
                       for p in load_payloads(params.model_dump(), plan.resolve_path)}}
    for s in odb.servers(env):
        pickup = f"{s.path}/pickup/incoming/services"
        res = s.host.transport.run(["ls", "-A", pickup], timeout=30)
        out.setdefault(s.name, {})["pickup dir"] = (" ".join(sorted(res.stdout.split())) or "(empty)") if res.ok \
            else "(missing)"
    return out


def rollback_steps(plan: Plan, params: InstallParams, inv: Inventory, done: Done) -> list[Step]:
    out: list[Step] = []
    restarted = False
    for step, obs, status in reversed(done):
        if status == StepStatus.SKIPPED:
            continue
        if step.action == "zato.hot_deploy" and obs.get("dropped"):
            prev = obs.get("previous", {})
            back = [{"name": n, "field": "rollback", "origin": "<previous>", "b64": prev[n]}
                    for n in obs["dropped"] if prev.get(n)]
            new = [n for n in obs["dropped"] if not prev.get(n)]
            if back:
                out.append(Step(f"rb-{step.id}", step.node, "zato.hot_deploy",
                                {**step.args, "payloads": back}, gate=Gate("zato.deployed", plan.ready_timeout),
                                description=f"redeploy the previous {', '.join(b['name'] for b in back)}"))
            if new:  # nothing can remove them: if they landed, the rollback is not complete, and says so
                out.append(Step(f"rb-new-{step.id}", step.node, "zato.cannot_undo", {"modules": new},
                                description=f"{', '.join(new)} had no previous version: hot-deploy cannot "
                                            f"remove it"))
        elif step.action == "zato.put_files" and obs.get("previous"):
            out.append(Step(f"rb-{step.id}", step.node, "zato.restore_files", {"previous": obs["previous"]},
                            description="put the previous files back"))
            restarted = True
    if restarted:
        out += [*restart_steps(_servers(inv), sync_servers=False, force=True, timeout=plan.ready_timeout,
                               prefix="rb-"), *verify_step(inv, "rb-")]
    return out


HOT_DEPLOY = Procedure("zato-hot-deploy", HotDeployParams, steps, precheck, rollback_steps,
                       summary="hot-deploy flat modules (pickup dir or web-admin); wait until every server "
                       "confirms each package", facts=hot_deploy_facts)
SERVICE_SOURCES = Procedure("zato-service-sources", ServiceSourcesParams, steps, precheck, rollback_steps,
                            summary="modules + service-sources.txt on every server, then a rolling restart")
EXTRA_PATHS = Procedure("zato-extra-paths", ExtraPathsParams, steps, precheck, rollback_steps,
                        summary="packages in zato_extra_paths on every server host, then a rolling restart")
