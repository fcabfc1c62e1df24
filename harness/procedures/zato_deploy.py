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
:mod:`harness.procedures.zato_update`).

``zato-extra-paths`` (``packages: [dir]`` and/or ``package_sources: {pkg/mod.py: text}``, ``modules: [dotted
module names to add to service-sources.txt]``, ``invoke``): the packages go to ``<install dir>/zato_extra_paths``
on every server host, the module names into each server's ``service-sources.txt``; rolling restart.

Rollback: hot-deploy redeploys the source each module had before the run (kept in the journal); a
module that did not exist before cannot be removed by hot-deploy and stays. Static installs put the
previous files back and restart the servers again.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from harness.engine.step import Gate, Step, StepStatus
from harness.environment import Environment
from harness.errors import PlanError, RefusedError
from harness.plan.models import Component, Inventory, Plan
from harness.procedures.zato_update import restart_steps  # the update's rolling restart: one definition
from harness.products.zato import odb
from harness.products.zato.deploy import HOT_DEPLOY_DIR, payload_arg
from harness.products.zato.hotdeploy import Payload, load_payloads, refusal, service_names

NAMES = ("zato-hot-deploy", "zato-service-sources", "zato-extra-paths")
PARAMS = {
    "zato-hot-deploy": {"method", "files", "sources", "invoke", "admin_user", "admin_password"},
    "zato-service-sources": {"files", "sources", "directory", "entries", "invoke"},
    "zato-extra-paths": {"packages", "package_sources", "modules", "invoke"},
}


def _check_params(plan: Plan) -> None:
    extra = set(plan.params) - PARAMS[plan.procedure]
    if extra:
        raise PlanError(f"unknown parameter(s) {', '.join(sorted(extra))} for {plan.procedure}", field="params",
                        hint=f"allowed: {', '.join(sorted(PARAMS[plan.procedure]))}")
    method = plan.params.get("method", "pickup")
    if plan.procedure == "zato-hot-deploy" and method not in ("pickup", "web-admin"):
        raise PlanError(f"unknown method {method!r}", field="params.method", hint="use pickup or web-admin")


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


def _calls(plan: Plan, payloads: list[Payload]) -> list[dict[str, Any]]:
    explicit = plan.params.get("invoke")
    if explicit:
        if not isinstance(explicit, dict):
            raise PlanError("`invoke` maps service names to payloads", field="params.invoke",
                            hint="invoke: {hello.my-service: {name: Joe}}")
        return [{"service": s, "payload": p or {}} for s, p in explicit.items()]
    return [{"service": s} for p in payloads for s in service_names(p.data, p.name)]


def _invoke_step(plan: Plan, inv: Inventory, payloads: list[Payload]) -> list[Step]:
    calls = _calls(plan, payloads)
    lb = inv.by_role("load-balancer")
    if not calls or not lb:
        return []
    return [Step(f"invoke@{lb[0].name}", lb[0].name, "zato.invoke", {"calls": calls},
                 description=f"invoke {', '.join(c['service'] for c in calls)} through the load balancer")]


def _hot_deploy(plan: Plan, inv: Inventory) -> list[Step]:
    payloads = _checked(load_payloads(plan.params, plan.resolve_path))
    method = plan.params.get("method", "pickup")
    args: dict[str, Any] = {"method": method,
                            "payloads": [payload_arg(p, inline=p.origin == "<inline>") for p in payloads]}
    for key in ("admin_user", "admin_password"):
        if key in plan.params:
            args[key] = plan.params[key]
    names = ", ".join(p.name for p in payloads)
    gate = Gate("zato.deployed", plan.ready_timeout)
    if method == "web-admin":
        wa = inv.by_role("web-admin")
        if not wa:
            raise PlanError("method web-admin needs a web-admin component in the inventory", field="params.method")
        step = Step(f"upload@{wa[0].name}", wa[0].name, "zato.hot_deploy", args, gate=gate,
                    compensation="zato.hot_deploy", description=f"upload {names} through web-admin (/zato/service/upload/)")
    else:
        s = _servers(inv)[0]
        step = Step(f"deploy@{s.name}", s.name, "zato.hot_deploy", args, gate=gate, compensation="zato.hot_deploy",
                    description=f"drop {names} into {s.name}'s pickup/incoming/services")
    return [step] + _invoke_step(plan, inv, payloads)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _package_files(plan: Plan) -> dict[str, bytes]:
    """``relative path -> bytes`` of the packages to put in zato_extra_paths."""
    out: dict[str, bytes] = {}
    for i, d in enumerate(plan.params.get("packages") or []):
        root = plan.resolve_path(str(d))
        if not (root / "__init__.py").is_file():
            raise PlanError(f"{root} is not a Python package (no __init__.py)", file=str(root),
                            field=f"params.packages[{i}]", hint="give a package directory; flat modules go with "
                            "zato-service-sources or zato-hot-deploy")
        for f in sorted(root.rglob("*.py")):
            if "__pycache__" not in f.parts:
                out[f"{root.name}/{f.relative_to(root).as_posix()}"] = f.read_bytes()
    for rel, text in (plan.params.get("package_sources") or {}).items():
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


def _static(plan: Plan, inv: Inventory) -> list[Step]:
    servers = _servers(inv)
    out: list[Step] = []
    payloads: list[Payload] = []
    if plan.procedure == "zato-service-sources":
        payloads = _checked(load_payloads(plan.params, plan.resolve_path))
        directory = str(plan.params.get("directory", "user-services")).strip("/")
        if not directory or ".." in Path(directory).parts:
            raise PlanError(f"directory {directory!r} must stay inside the server directory", field="params.directory")
        entries = [f"./{directory}"] + [str(e) for e in plan.params.get("entries") or []]
        for s in servers:
            files = {f"{s.path}/{directory}/{p.name}": _b64(p.data) for p in payloads}
            out.append(Step(f"sources@{s.name}", s.name, "zato.put_files",
                            {"files": files, "service_sources": {"path": f"{s.path}/config/repo/service-sources.txt",
                                                                 "entries": entries}},
                            compensation="zato.restore_files",
                            description=f"copy {len(payloads)} module(s) to {directory}/, add {', '.join(entries)} "
                                        f"to service-sources.txt"))
    else:
        files = _package_files(plan)
        for host in dict.fromkeys(s.host for s in servers):
            base = f"{inv.host(host).install_dir}/zato_extra_paths"
            out.append(Step(f"extra-paths@{host}", host, "zato.put_files",
                            {"files": {f"{base}/{rel}": _b64(d) for rel, d in files.items()}},
                            compensation="zato.restore_files",
                            description=f"put {len(files)} file(s) in {base}"))
        modules = [str(m) for m in plan.params.get("modules") or []]
        if modules:
            for s in servers:
                out.append(Step(f"sources@{s.name}", s.name, "zato.put_files",
                                {"files": {}, "service_sources": {"path": f"{s.path}/config/repo/service-sources.txt",
                                                                  "entries": modules}},
                                compensation="zato.restore_files",
                                description=f"add {', '.join(modules)} to service-sources.txt"))
    out += restart_steps(servers, sync_servers=False, force=True, timeout=plan.ready_timeout)
    return out + _invoke_step(plan, inv, payloads)


def steps(plan: Plan, inv: Inventory) -> list[Step]:
    _check_params(plan)
    if plan.procedure == "zato-hot-deploy":
        return _hot_deploy(plan, inv)
    return _static(plan, inv)


def precheck(env: Environment, plan: Plan) -> None:
    """Read-only: what steps() checked locally, plus what only the environment can tell."""
    import requests

    steps(plan, env.inventory)  # payload refusals (re-read: a file may have changed since planning)
    for s in odb.servers(env):
        try:
            ok = "ZATO_OK" in requests.get(f"{s.url}/zato/ping", timeout=3).text
        except requests.RequestException:
            ok = False
        if not ok:
            raise RefusedError(f"server {s.name} does not answer /zato/ping: a deployment would wait for it\n"
                               f"Hint: start it (`zato start {s.path}`) and run again")
    if plan.procedure != "zato-hot-deploy":
        return
    rows = odb.deployed_services(env)
    for p in load_payloads(plan.params, plan.resolve_path):
        for name in service_names(p.data, p.name):
            owners = {r.source_path for r in rows if r.service == name and r.payload_name != p.name
                      or r.service == name and HOT_DEPLOY_DIR not in r.source_path}
            if owners:
                raise PlanError(f"{p.name}: service {name!r} is already deployed from {sorted(owners)[0]}",
                                file=p.origin if p.origin != "<inline>" else None, field=p.field,
                                hint="rename the service (its `name` attribute or class) or deploy the new "
                                     "version of the module that owns it")


def rollback_steps(plan: Plan, inv: Inventory, done: list[tuple[Step, dict[str, Any], StepStatus]]) -> list[Step]:
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
                                description=f"redeploy the previous {', '.join(b['name'] for b in back)}"
                                + (f"; {', '.join(new)} had no previous version and stays" if new else "")))
        elif step.action == "zato.put_files" and obs.get("previous"):
            out.append(Step(f"rb-{step.id}", step.node, "zato.restore_files", {"previous": obs["previous"]},
                            description="put the previous files back"))
            restarted = True
    if restarted:
        out += restart_steps(_servers(inv), sync_servers=False, force=True, timeout=plan.ready_timeout, prefix="rb-")
    return out
