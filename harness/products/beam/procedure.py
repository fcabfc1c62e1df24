"""Hot patch of a running Erlang-based system (runbook seeds/003; docs/patch.md).

``beam-patch``: upload the zip to the master domain → check (refused when the integral status is
1–4) → capture the anti-patch on every node (journaled) → apply (the master fans out to every node in
parallel) → verify every node (md5 of every module; long-lived processes: same pid, state kept) →
delete the archive.

Params (exactly one of ``archive`` and ``sources``; relative paths are resolved against the plan
file's directory when the plan is made, and the steps carry absolute paths so ``resume`` works anywhere)::

    archive: fix.zip                         a patch built with `harness patch build`
    sources: [core:src/core_util.erl, ...]   APP:FILE (.erl or .beam), built into a zip for `version`
    version: "2.7.1"                         the system version the patch is for (required with sources;
                                             with archive it must equal the manifest's)
    name: fix-42                             optional patch name (sources only)

Rollback (a failed step, or ``harness rollback``): restore the anti-patch on every node where one was
captured (files written back, previous code reloaded, every md5 verified), then delete the archive.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from harness.engine.procedure import Check, Done, Params, Procedure
from harness.engine.step import Step
from harness.environment import Environment
from harness.errors import ConfigError, PlanError, RefusedError
from harness.plan.models import Inventory, Plan
from harness.products.beam.actions import archive_of, patch_bytes, table
from harness.products.beam.archive import ArchiveRefused, ModuleSpec, PatchArchive
from harness.products.beam.domain import Domain
from harness.products.beam.etf import Atom
from harness.products.beam.result import NodeResult, PatchResult
from harness.products.beam.status import Status


class PatchParams(Params):
    archive: str | None = Field(None, description="a patch zip built with `harness patch build`, relative to the "
                                "plan file")
    sources: list[str] | None = Field(None, validate_default=True, description="APP:FILE (.erl or .beam) modules "
                                      "built into a zip for `version`, relative to the plan file")
    version: str | None = Field(None, validate_default=True, description='the system version the patch is for, '
                                'quoted ("2.7.1"); required with sources')
    name: str | None = Field(None, description="patch name (sources only)")

    # field validators (not one model validator), so each refusal names its own field and line
    @field_validator("sources")
    @classmethod
    def _one_source(cls, sources: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if bool(info.data.get("archive")) == bool(sources):
            raise ValueError("give exactly one of `archive` (a zip) and `sources` (APP:FILE list), "
                             "e.g. {sources: ['core:src/core_util.erl'], version: '2.7.1'}")
        return sources

    @field_validator("version")
    @classmethod
    def _version_with_sources(cls, version: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("sources") and not version:
            raise ValueError('a patch built from sources needs the system version it is for: add version: "2.7.1"')
        return version


def patch_args(plan: Plan, params: PatchParams) -> dict[str, Any]:
    """Resolve paths and check the files exist: the args of the upload step."""
    p = params.model_dump()
    if p.get("archive"):
        path = plan.resolve_path(str(p["archive"]))
        if not path.is_file():
            raise PlanError(f"patch archive {path} does not exist", field="params.archive",
                            hint="build one with `harness patch build APP:FILE... --version V --out FILE`")
        return {"archive": str(path), **({"version": p["version"]} if p.get("version") else {})}
    sources = []
    for i, spec in enumerate(p["sources"]):
        try:
            mod = ModuleSpec.parse(spec)
        except ConfigError as exc:
            raise PlanError(str(exc).splitlines()[0], field=f"params.sources.{i}", hint=exc.hint) from None
        path = plan.resolve_path(mod.source)
        if not path.is_file() or path.suffix not in (".erl", ".beam"):
            raise PlanError(f"{path}: no such .erl or .beam file", field=f"params.sources.{i}",
                            hint="write APP:FILE with an existing module source or object file")
        sources.append(f"{mod.app}:{path}")
    return {"sources": sources, "version": p["version"], **({"name": p["name"]} if p.get("name") else {})}


def _master(inv: Inventory) -> str:
    masters = inv.by_role("master")
    if inv.product != "beam" or len(masters) != 1:
        raise PlanError(f"beam-patch needs a beam inventory with exactly one master (got product {inv.product}, "
                        f"{len(masters)} master(s))", field="target",
                        hint="use `standins: {product: beam, nodes: 3}` or an inventory from "
                        "`harness standins up beam`")
    return masters[0].name


def steps(plan: Plan, params: PatchParams, inv: Inventory) -> list[Step]:
    args = patch_args(plan, params)
    master = _master(inv)
    nodes = [c.name for c in inv.components]
    what = (Path(args["archive"]).name if "archive" in args
            else f"{len(args['sources'])} module(s) for {args['version']}")
    check = {"check": f"check@{master}"}
    return [
        Step(f"upload@{master}", master, "beam.upload", args, compensation="beam.delete",
             description=f"POST /api/patch ({what})"),
        Step(f"check@{master}", master, "beam.check", description="POST /api/patch/check; refuse on integral 1-4"),
        *[Step(f"capture@{n}", n, "beam.capture", check, compensation="beam.restore", parallel="capture",
               description="anti-patch: capture the object code the patch replaces") for n in nodes],
        Step(f"apply@{master}", master, "beam.apply", check,
             description="POST /api/patch/apply (fan-out to every node); every node >= not_changed"),
        *[Step(f"verify@{n}", n, "beam.verify", {**check, "capture": f"capture@{n}"}, parallel="verify",
               description="md5 of every module; long-lived processes: same pid, state kept") for n in nodes],
        Step(f"delete@{master}", master, "beam.delete", description="DELETE /api/patch"),
    ]


def _archive(args: dict[str, Any]) -> PatchArchive:
    """The patch the plan names (built from its sources, or read), refused when unreadable or when it is not
    for the version the plan says: the precheck's first two refusals, and preflight's."""
    want = args.get("version")
    try:
        archive = archive_of(args)
    except ArchiveRefused as exc:
        raise RefusedError(f"{args.get('archive', 'the patch')}: {exc}\n"
                           "Hint: rebuild it with `harness patch build APP:FILE... --version V --out FILE`") from None
    if want and archive.system_version != want:
        raise RefusedError(f"the archive is built for system {archive.system_version}, the plan says {want}\n"
                           f"Hint: fix params.version or rebuild the patch")
    return archive


def precheck(env: Environment, plan: Plan, params: PatchParams) -> None:
    """Read-only: the archive is valid for the running version and the nodes' check is >= not_changed.

    Done straight on the master's agent (the same domain-wide check the service runs), so a refusal
    leaves nothing uploaded and nothing loaded anywhere.
    """
    args = patch_args(plan, params)
    dom = Domain.from_inventory(env.inventory)
    master = dom.agent(dom.master)
    version = str(master.info()["version"])
    archive = _archive(args)
    if archive.system_version != version:
        raise RefusedError(f"the patch is built for system {archive.system_version}; the system runs {version}: "
                           f"a patch applies to exactly one version\nHint: rebuild it for {version}")
    system = master.system_libraries(sorted(archive.module_names()))
    if system:
        raise RefusedError(f"system library modules cannot be patched: {', '.join(system)}")
    replies = master.domain((Atom("check"), archive.items))
    result = PatchResult("check", tuple(NodeResult.from_json({**r.get("result", {}), "node": r["node"],
                                                             "reachable": "result" in r, "error": r.get("error")})
                                        for r in replies))
    if result.integral < Status.NOT_CHANGED:
        names = {dom.erlang_node(n): n for n in dom.names}
        raise RefusedError(f"the check's integral status is {result.integral.label} ({int(result.integral)}): "
                           f"the patch is not applied\n{table(result, names)}")
    patch_bytes(args)  # built and cached for the upload step


def preflight(env: Environment, plan: Plan, params: PatchParams) -> list[Check]:
    """Read-only, before a window: the patch is readable and for the version the plan says, and every node
    runs the system version it is built for (each node's agent ``info``, as the precheck and facts ask)."""
    args = patch_args(plan, params)
    dom = Domain.from_inventory(env.inventory)
    try:
        archive = _archive(args)
    except RefusedError as exc:
        msg, _, hint = str(exc).partition("\nHint: ")
        return [Check("patch", dom.master, False, msg, hint)]
    built = archive.system_version
    out = [Check("patch", dom.master, True, f"built for system {built}: {', '.join(sorted(archive.module_names()))}")]
    for n in dom.names:
        with dom.agent(n) as agent:
            running = str(agent.info()["version"])
        ok = running == built
        seen = f"runs system {running}" + ("" if ok else f"; the patch is built for {built}")
        out.append(Check("version", n, ok, seen,
                         "" if ok else f"rebuild the patch for {running} (harness patch build APP:FILE... --version "
                         f"{running}): a patch applies to exactly one system version"))
    return out


def facts(env: Environment, plan: Plan, params: PatchParams) -> dict[str, dict[str, str]]:
    """What the steps depend on, per node: the running system version and the loaded md5 of every module the
    patch replaces (asked of each node's agent with its read-only ``info`` and ``md5s`` requests, as the
    precheck asks); on the master, the sha256 of the archive or of each source file the patch is built from."""
    args = patch_args(plan, params)
    dom = Domain.from_inventory(env.inventory)
    modules = sorted(archive_of(args).module_names())
    out: dict[str, dict[str, str]] = {}
    for n in dom.names:
        with dom.agent(n) as agent:
            md5 = agent.md5s(modules)
            out[n] = {"system version": str(agent.info()["version"]),
                      **{f"md5 {m}": str(md5.get(m, "")) for m in modules}}
    files = [args["archive"]] if "archive" in args else [s.split(":", 1)[1] for s in args["sources"]]
    out[dom.master].update({f"sha256 {f}": hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files})
    return out


def rollback_steps(plan: Plan, params: PatchParams, inv: Inventory, done: Done) -> list[Step]:
    master = _master(inv)
    out = [Step(f"rb-restore@{s.node}", s.node, "beam.restore", {"capture": s.id}, parallel="rb-restore",
                description="anti-patch: write back and reload the captured code; verify every md5")
           for s, obs, _ in done if s.action == "beam.capture" and obs.get("images")]
    if any(s.action == "beam.upload" for s, _, _ in done):
        out.append(Step(f"rb-delete@{master}", master, "beam.delete", description="DELETE /api/patch"))
    return out


PROCEDURE = Procedure("beam-patch", PatchParams, steps, precheck, rollback_steps,
                      summary="hot patch: upload, check (refused at integral 1-4), capture the anti-patch, apply on "
                      "every node, verify, delete", facts=facts, preflight=preflight)
