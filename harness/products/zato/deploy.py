"""Actions and the gate of Zato service installation (reference §1.6-1.8), each with its skip rule.

- ``zato.hot_deploy``: drop flat modules into one server's pickup dir, or upload them through web-admin
  (login, ``POST /zato/service/upload/?qqfile=``). Before anything is written it records, from the ODB,
  the source each module has now (``previous``, persisted in the journal: the rollback redeploys it).
  Skipped when every module is already deployed with the same SHA-256 on every server.
- gate ``zato.deployed``: every server confirmed each new package, in its log (``Uploaded package
  id:[N], payload_name:[x.py]``) and in the ODB (``deployment_status`` = ``deployed``). A server that
  logs ``Could not load source``/``No services were deployed`` for the module fails it at once.
- ``zato.invoke``: call services through the load balancer (``/zato/api/invoke/<service>``).
- ``zato.cannot_undo`` (rollback only): a module that had no previous version cannot be removed by a
  hot-deploy; if the node still has it deployed, the step says so and ends indeterminate, so the run
  never reports "rolled back" with the module in place.
- ``zato.put_files``/``zato.restore_files``: write modules, packages and ``service-sources.txt`` entries
  on a node (static installs; the old contents are recorded first) and put them back.
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import time
from typing import Any

import requests

from harness.engine.actions import StepContext
from harness.engine.step import Gate
from harness.environment import ComponentHandle, HostHandle
from harness.errors import GateTimeout, HarnessError, StepFailed
from harness.products.zato import odb, state
from harness.products.zato.hotdeploy import Payload, with_entries
from harness.products.zato.logs import parse_log
from harness.wait import wait_until

HOT_DEPLOY_DIR = "/hot-deploy/current/"
_REFUSED = ("Could not load source", "No services were deployed", "Could not hot-deploy", "Could not deploy services",
            "Ignoring package")


def payload_arg(p: Payload, *, inline: bool) -> dict[str, str]:
    arg = p.to_arg()
    if inline:
        arg["b64"] = base64.b64encode(p.data).decode()
    return arg


def _payloads(ctx: StepContext) -> list[Payload]:
    out = []
    for a in ctx.step.args["payloads"]:
        if "b64" in a:
            data = base64.b64decode(a["b64"])
        else:
            with open(a["origin"], "rb") as f:
                data = f.read()
        out.append(Payload(a["name"], data, a["field"], a["origin"]))
    return out


def _hot(rows: list[odb.DeployedService], name: str) -> list[odb.DeployedService]:
    return [r for r in rows if r.payload_name == name and HOT_DEPLOY_DIR in r.source_path]


def previous_sources(rows: list[odb.DeployedService], names: list[str]) -> dict[str, str | None]:
    """Base64 of the source each module runs now (None: not deployed yet), from the ODB."""
    out: dict[str, str | None] = {}
    for name in names:
        found = _hot(rows, name)
        out[name] = base64.b64encode(found[0].source).decode() if found else None
    return out


def deployed_everywhere(rows: list[odb.DeployedService], p: Payload, servers: list[str]) -> bool:
    found = _hot(rows, p.name)
    return bool(found) and all(r.source_hash == p.sha256 for r in found) and \
        {r.server for r in found} >= set(servers)


class HotDeploy:
    def skip(self, ctx: StepContext) -> str | None:
        payloads = _payloads(ctx)
        rows = odb.deployed_services(ctx.env)
        ctx.observation.setdefault("previous", previous_sources(rows, [p.name for p in payloads]))
        ctx.persist()  # before anything changes: the rollback redeploys these
        servers = [s.name for s in odb.servers(ctx.env)]
        todo = [p for p in payloads if not deployed_everywhere(rows, p, servers)]
        ctx.observation["todo"] = [p.name for p in todo]
        if todo:
            return None
        same = ", ".join(f"{p.name} (sha256 {p.sha256[:12]})" for p in payloads)
        return f"{same} already deployed on {', '.join(servers)}: nothing written"

    def run(self, ctx: StepContext) -> None:
        todo = [p for p in _payloads(ctx) if p.name in ctx.observation.get("todo", [])]
        env = ctx.env
        ctx.observation.update(package_floor=odb.max_package_id(env),
                               log_offsets={s.name: len(state.read_log(s)) for s in odb.servers(env)},
                               dropped=[p.name for p in todo], method=ctx.step.args["method"])
        ctx.persist()
        dropped_at: dict[str, float] = {}
        for p in todo:
            dropped_at[p.name] = time.time()
            if ctx.step.args["method"] == "web-admin":
                _upload(ctx, p)
            else:
                comp = env.components[ctx.step.node]
                comp.host.transport.put(f"{comp.path}/pickup/incoming/services/{p.name}", p.data)
        ctx.observation["dropped_at"] = dropped_at


def admin_credentials(comp: ComponentHandle, args: dict[str, Any]) -> tuple[str, str]:
    if args.get("admin_password"):
        return str(args.get("admin_user") or "admin"), str(args["admin_password"])
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(comp.host.transport.get(f"{comp.path}/config/repo/web-admin.conf").decode())
    return conf.get("stand_in", "admin_user", fallback="admin"), conf.get("stand_in", "admin_password", fallback="")


def _upload(ctx: StepContext, p: Payload) -> None:
    comp = ctx.env.components[ctx.step.node]
    user, password = admin_credentials(comp, ctx.step.args)
    with requests.Session() as s:
        r = s.post(f"{comp.url}/accounts/login/", data={"username": user, "password": password},
                   allow_redirects=False, timeout=10)
        if r.status_code != 302 or "sessionid" not in s.cookies:
            raise StepFailed(ctx.step.id, f"web-admin login as {user!r} failed (HTTP {r.status_code})\n"
                             f"Hint: set params admin_user/admin_password to a web-admin account")
        r = s.post(f"{comp.url}/zato/service/upload/", params={"qqfile": p.name, "has_post": "true"}, data=p.data,
                   headers={"Content-Type": "application/octet-stream"}, allow_redirects=False, timeout=60)
    ctx.observation.setdefault("upload", {})[p.name] = {"status": r.status_code, "body": r.text[:2000]}
    if r.status_code != 200 or "OK, deployed" not in r.text:
        raise StepFailed(ctx.step.id,
                         f"web-admin refused {p.name} ({p.origin}): HTTP {r.status_code}\n{r.text[-1500:]}")


# ----- gate ---------------------------------------------------------------------------------------


def _refusals(ctx: StepContext, names: list[str]) -> None:
    offsets = ctx.observation.get("log_offsets", {})
    for s in odb.servers(ctx.env):
        for e in parse_log(state.read_log(s)[int(offsets.get(s.name, 0)):]):
            line = e.first_line
            hit = next((n for n in names if f"`{n}`" in line or f":`{n}`" in line), None)
            if hit and line.startswith(_REFUSED):
                last = e.message.strip().splitlines()[-1].strip("`")
                raise StepFailed(ctx.step.id, f"{s.name} did not deploy {hit}: {line[:300]}\n{last}\n"
                                 f"Hint: the previous version keeps serving; fix the module and deploy again")


def deployed(ctx: StepContext, gate: Gate) -> None:
    """Open once every server confirmed every dropped module, in its log and in the ODB."""
    obs, env = ctx.observation, ctx.env
    names: list[str] = list(obs.get("dropped", []))
    floor = int(obs.get("package_floor", 0))
    offsets = obs.get("log_offsets", {})
    missing: list[str] = []

    def all_confirmed() -> bool:
        _refusals(ctx, names)  # a server that refused the module fails the gate at once
        rows = odb.package_statuses(env, floor)
        latest = {name: max((r[0] for r in rows if r[1] == name), default=None) for name in names}
        confirmed: dict[str, dict[str, str]] = {}
        missing.clear()
        for name, pkg in latest.items():
            if pkg is None:
                missing.append(f"{name}: no package yet")
                continue
            status = {r[2]: r[3] for r in rows if r[0] == pkg}
            logged = {}
            for s in odb.servers(env):
                for e in parse_log(state.read_log(s)[int(offsets.get(s.name, 0)):]):
                    if e.kind == "uploaded_package" and e.fields.get("package_id") == pkg:
                        logged[s.name] = e.ts.isoformat(timespec="milliseconds")
            waiting = sorted(n for n, st in status.items() if st != "deployed")
            unlogged = sorted({s.name for s in odb.servers(env)} - set(logged))
            if waiting or unlogged:
                missing.append(f"{name} (package {pkg}): status not deployed on {waiting or '-'}, "
                               f"no `Uploaded package` line from {unlogged or '-'}")
            confirmed[name] = logged
        if not missing:
            obs.update(packages=latest, confirmed=confirmed, available_at=time.time())
        return not missing

    wait_until(all_confirmed, timeout=gate.timeout, interval=0.02, what="the confirmation of every server",
               details=lambda: "; ".join(missing),
               hint="a server that is down deploys the package when it starts; check its log")


# ----- what a rollback cannot undo ----------------------------------------------------------------


class CannotUndo(HarnessError):
    """The rollback cannot put the node back: its state is not the one before the run."""


class NotUndone:
    """A rollback step for hot-deployed modules that had no previous version: asked of the ODB, they are
    either deployed nowhere (nothing to undo) or still deployed, which hot-deploy cannot remove."""

    def skip(self, ctx: StepContext) -> str | None:
        names = list(ctx.step.args["modules"])
        rows = odb.deployed_services(ctx.env)
        left = {n: sorted({r.server for r in _hot(rows, n)}) for n in names}
        ctx.observation["still_deployed"] = {n: s for n, s in left.items() if s}
        if not ctx.observation["still_deployed"]:
            return f"{', '.join(names)} deployed on no server: nothing to undo"
        return None

    def run(self, ctx: StepContext) -> None:
        left = ctx.observation["still_deployed"]
        where = "; ".join(f"{n} on {', '.join(s)}" for n, s in left.items())
        raise CannotUndo(f"cannot undo: {where} had no previous version, and hot-deploy cannot remove a module "
                         f"(it stays deployed and is loaded again at every start)\n"
                         f"Hint: delete it from work/hot-deploy/current/ on every server, remove its "
                         f"deployed_service rows from the ODB, and restart the servers")


# ----- invoke through the load balancer ------------------------------------------------------------


class Invoke:
    def skip(self, ctx: StepContext) -> str | None:
        return None

    def run(self, ctx: StepContext) -> None:
        front = ctx.env.inventory.front_door
        if not front:
            raise StepFailed(ctx.step.id, "the inventory has no front_door (load balancer URL) to invoke through")
        from harness.products.zato.checks import LbRequestFollower

        results: dict[str, dict[str, Any]] = {}
        log, paths = LbRequestFollower(ctx.env, back=0), []
        for call in ctx.step.args["calls"]:
            service, strict = call["service"], "payload" in call
            # not marked: a user's service could read a query parameter as its input; one call at a time, so
            # the LB logs them in this order
            paths.append(f"/zato/api/invoke/{service}")
            r = requests.post(f"{front.rstrip('/')}{paths[-1]}", json=call.get("payload") or {}, timeout=15,
                              headers={"Connection": "close"})
            results[service] = {"status": r.status_code, "body": r.text[:500], "server": None}
            ok = r.status_code == 200 if strict else r.status_code not in (404,) and r.status_code < 500
            if not ok:
                raise StepFailed(ctx.step.id, f"invoking {service} through the load balancer: HTTP {r.status_code} "
                                 f"{r.text[:300]}\nHint: see the server's log for the service's traceback")
        # which server ran each: a Zato server names itself in no answer, its LB logs where each request went
        def mine() -> list[str]:
            log.read()
            return [server for uri, server in log.routes if uri in paths]

        with contextlib.suppress(GateTimeout):
            wait_until(lambda: len(mine()) >= len(paths), timeout=2, interval=0.02,
                       what="the load balancer to log the invocations")
        routed = mine()
        if len(routed) == len(paths):  # more: someone else called one of them meanwhile, and who served which is
            for call, server in zip(ctx.step.args["calls"], routed, strict=True):  # unknown: left None
                results[call["service"]]["server"] = server
        ctx.observation["responses"] = results


# ----- static installs: files on a node ------------------------------------------------------------


def _transport_of(ctx: StepContext) -> Any:
    node = ctx.env.node(ctx.step.node)
    return node.transport if isinstance(node, HostHandle) else node.host.transport


def _read(t: Any, path: str) -> bytes | None:
    try:
        data: bytes = t.get(path)
    except FileNotFoundError:
        return None
    return data


def _wanted(ctx: StepContext) -> dict[str, bytes]:
    t = _transport_of(ctx)
    files = {path: base64.b64decode(b64) for path, b64 in ctx.step.args.get("files", {}).items()}
    sources = ctx.step.args.get("service_sources")
    if sources:
        current = (_read(t, sources["path"]) or b"").decode()
        files[sources["path"]] = with_entries(current, list(sources["entries"])).encode()
    return files


class PutFiles:
    def skip(self, ctx: StepContext) -> str | None:
        t = _transport_of(ctx)
        wanted = _wanted(ctx)
        previous = {p: _read(t, p) for p in wanted}
        ctx.observation.setdefault("previous", {p: base64.b64encode(d).decode() if d is not None else None
                                                for p, d in previous.items()})
        ctx.persist()
        if all(previous[p] == d for p, d in wanted.items()):
            return f"{len(wanted)} file(s) already in place on {ctx.step.node}: nothing written"
        return None

    def run(self, ctx: StepContext) -> None:
        t = _transport_of(ctx)
        written = []
        for path, data in _wanted(ctx).items():
            if _read(t, path) != data:
                t.put(path, data)
                written.append(path)
        ctx.observation["written"] = written


class RestoreFiles:
    def skip(self, ctx: StepContext) -> str | None:
        t = _transport_of(ctx)
        same = all(_read(t, p) == (base64.b64decode(b) if b is not None else None)
                   for p, b in ctx.step.args["previous"].items())
        return "every file already has its previous content" if same else None

    def run(self, ctx: StepContext) -> None:
        t = _transport_of(ctx)
        for path, b64 in ctx.step.args["previous"].items():
            if b64 is None:
                t.run(["rm", "-f", path], timeout=30).check()
            else:
                t.put(path, base64.b64decode(b64))
