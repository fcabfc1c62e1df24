"""Canopsis regular update, single node (reference canopsis.md §2.3-§2.4).

Params (:class:`UpdateParams`): ``to`` (target version, required), ``from`` (installed version; default the inventory's
``facts.version``), ``edition`` (core|cat; default ``facts.edition``), ``broadcast_minutes`` (30),
``guides_followed`` (ids of the migration guides already carried out, e.g. ``["migration-4.5.0"]``),
``compose_override`` (Compose installation: the operator's ``docker-compose.override.yml`` for the target,
a file beside the plan).

Steps: post a broadcast message → apply the release note of every version after the installed one up to
the target, oldest first (one step each, so the journal says which were applied) → ``canoctl stop`` →
``yum --disablerepo="*" --enablerepo="canopsis*" update`` (``dnf makecache`` + ``dnf`` from 22.10) →
``canopsinit --canopsis-edition`` (4.x) → ``canopsis-reconfigure`` with the release notes' flags (and
``-edition`` from 22.10), sourced with go-engines-vars.conf → ``systemctl daemon-reload`` → ``canoctl
restart`` (``systemctl restart`` of the units from 22.10) → verify. The runner stops at the first failing
command, so daemon-reload and the restart only run when every earlier command succeeded.

Refused before anything runs (exit 4): an unknown version, a downgrade, a major jump, a missing or
malformed release note, a release note that mandates a migration guide (``[migration_guide]``: upstream
4.4.0, 4.5.0, 4.6.0, 22.10.0, 23.04.0, 23.10.0, 24.04.0) the plan does not list in ``guides_followed``
(planning, located at the note's line), and at precheck a node on another version, a malformed
canopsis.toml, a MongoDB whose featureCompatibilityVersion is not the one the first such guide requires
(asked with a mongo shell on the node, when there is one), or a broker the node cannot reach.

Rollback (a release-note step, the packages, canopsis-reconfigure or the restart failed): canopsis.toml
as before the run, the previous package (``yum downgrade``), canopsis-reconfigure, daemon-reload,
restart, verify on the previous version. Migrations already applied stay applied (they only go forward).

Compose installation (inventory ``facts.install: compose``, project dir ``facts.compose_dir``): after the
release notes, the reference files (``docker-compose.yml``, ``.env`` with ``CANOPSIS_IMAGE_TAG``,
``compose.env``) are all resynchronised with the target version's (``facts.compose_reference/<to>/``; the
operator's ``docker-compose.override.yml`` and ``etc/conf.d/canopsis-override.toml`` are kept), then the
one-shot reconfigure service runs with the notes' flags to its end (``up --exit-code-from``: 4.x files
have no ``condition:``), then ``docker-compose up -d``, then verify. A 22.10+ target's files order the
one-shot jobs themselves (reconfigure, migrate-metrics-meta: ``condition: service_completed_successfully``,
after ``timescaledb`` and ``rabbitmq`` are ``service_healthy``), so ``docker-compose up -d`` alone runs them
first and fails if one exits non-zero (from 23.10: mongodb-rs-init after ``mongodb`` is ``service_healthy``,
then reconfigure after it). Rollback: canopsis.toml and the previous reference files restored, reconfigure,
``up -d`` recreating the engines and the API, verify. A target without reference files is refused at planning.

Across a service rename (23.10 drops migrate-metrics-meta), the override the installation has names a service
the target lacks, and is refused (Compose would start it on its own). The operator edits it for the target:
``params.compose_override: PATH`` (relative to the plan file's directory) is checked at planning (it exists,
parses as YAML, names only services of the target's docker-compose.yml: :class:`PlanError` naming the file
otherwise, nothing touched), written by the resync step in place of the kept one, and put back to the old
one by the rollback's restore; the precheck and preflight judge it, the override that will be in force.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from harness.engine.procedure import Check, Done, Params, Procedure
from harness.engine.step import Gate, Step, StepStatus
from harness.environment import Environment
from harness.errors import PlanError, RefusedError
from harness.plan.models import Inventory, Plan
from harness.products.canopsis import compose, config, notes, versions
from harness.products.canopsis.actions import EDITIONS
from harness.products.canopsis.node import CanopsisNode, unit_of
from harness.secrets import reveal

NODE = "node"
UNITS = {"core": ["engine-fifo", "engine-che", "engine-axe"],
         "cat": ["engine-fifo", "engine-che", "engine-axe", "engine-correlation"]}


def _units(edition: str) -> list[str]:
    return [unit_of(e) for e in [*UNITS[edition], "api"]]


class UpdateParams(Params):
    to: str = Field(description="the target version, e.g. \"4.6.1\" (quoted: 4.6 would be a number)")
    from_: str | None = Field(None, alias="from", description="the installed version; default the "
                              "inventory's facts.version")
    edition: Literal["core", "cat"] | None = Field(None, description="core (Community) or cat (Pro); default "
                                                   "the inventory's facts.edition")
    broadcast_minutes: int = Field(30, ge=0, le=24 * 60, description="how long the broadcast message stays up")
    guides_followed: list[str] = Field(default_factory=list, description=(
        "ids of the migration guides already carried out (e.g. migration-4.5.0): an update across a release "
        "note that mandates one is refused otherwise"))
    compose_override: str | None = Field(None, description=(
        "Compose installation: the operator's docker-compose.override.yml for the target (a path, relative to "
        "the plan file's directory), written in place of the installed one by the update and put back by its "
        "rollback; it may name only services of the target's docker-compose.yml (e.g. without "
        "migrate-metrics-meta for 23.10.0). Default: the installed override is kept"))


def resolve(plan: Plan, params: UpdateParams, inv: Inventory) -> dict[str, Any]:
    """The version path and the release notes on it; raises :class:`PlanError` (nothing touched)."""
    current = str(params.from_ or inv.facts.get("version") or "")
    if not current:
        raise PlanError("the installed version is unknown", field="params.from",
                        hint="give params.from, or facts.version in the inventory")
    edition = str(params.edition or inv.facts.get("edition") or "core")
    if edition not in EDITIONS:
        raise PlanError(f"unknown edition {edition!r}", field="facts.edition", hint="use core (Community) or cat (Pro)")
    if "repository" not in inv.facts:
        raise PlanError("the inventory names no package repository", field="facts.repository",
                        hint="set facts.repository to the Canopsis repository mirror (release notes)")
    repo = Path(inv.facts["repository"])
    to = params.to
    try:
        path = versions.check_update(notes.versions(repo), current, to)
    except versions.VersionError as exc:
        raise PlanError(str(exc), field="params.to", hint=exc.hint) from None
    if inv.facts.get("install") == "compose":
        ref = Path(str(inv.facts.get("compose_reference", ""))) / to
        missing = [n for n in compose.FILES if not (ref / n).is_file()]
        if missing:
            raise PlanError(f"no reference compose file for Canopsis {to} ({ref}: {', '.join(missing)} missing)",
                            field="params.to", hint="add containers/canopsis/compose/<version>/ with "
                            "docker-compose.yml, .env and compose.env, or use the packages installation")
    loaded = [notes.load(repo, v) for v in path]
    _guides_followed(repo, loaded, params.guides_followed, current, to)
    return {"from": current, "to": to, "edition": edition, "path": path, "notes": loaded,
            "minutes": params.broadcast_minutes, "override": given_override(plan, params, inv)}


def given_override(plan: Plan, params: UpdateParams, inv: Inventory) -> tuple[Path, str] | None:
    """``params.compose_override``: its path and text, checked (:class:`PlanError` naming the file and the fix,
    nothing touched): a Compose installation's, a file there, YAML with a ``services:`` mapping, and only
    services the target's docker-compose.yml has. None without the param."""
    if params.compose_override is None:
        return None
    field, to = "params.compose_override", params.to
    if inv.facts.get("install") != "compose":
        raise PlanError("params.compose_override is a Compose installation's docker-compose.override.yml, and "
                        f"this inventory's installation is {inv.facts.get('install') or 'packages'}", field=field,
                        hint="remove params.compose_override (facts.install: compose has a Compose project)")
    path = plan.resolve_path(params.compose_override)
    try:
        text = path.read_bytes().decode()  # not read_text(): its newline translation would change the digest
    except FileNotFoundError:
        raise PlanError(f"the override for {to} given by params.compose_override does not exist", file=str(path),
                        field=field, hint=f"write the {compose.OVERRIDE} for {to} there (a path relative to the "
                        "plan file's directory), or remove params.compose_override to keep the installed one"
                        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"cannot read the override given by params.compose_override: {exc}", file=str(path),
                        field=field, hint="give a readable UTF-8 file") from None
    try:
        svcs = compose.override_services(text)
    except compose.NotACompose as exc:
        raise PlanError(f"the override given by params.compose_override is not a Compose file: {exc}",
                        file=str(path), line=exc.line, field=field, hint="fix it: a YAML mapping whose "
                        "`services:` maps each service name to its settings, as docker-compose.override.yml") from None
    target = compose.reference(str(inv.facts.get("compose_reference", "")), to).read_text()
    strays = compose.override_strays(text, target)
    if strays:
        raise PlanError(f"the override given by params.compose_override names {', '.join(strays)}, which Canopsis "
                        f"{to}'s {compose.FILE} does not have: Compose would start each as a service of its own",
                        file=str(path), line=svcs[strays[0]], field=field,
                        hint=f"remove {', '.join(strays)} from {path.name} (the services of {to}: "
                             f"{', '.join(compose.services(target))})")
    return path, text


def _guides_followed(repo: Path, loaded: list[notes.ReleaseNote], followed: list[str], current: str, to: str) -> None:
    """Every migration guide a release note on the path mandates must be named in params.guides_followed
    (the executor runs none of their manual work); naming one that is not on the path is a typo."""
    guides = [(n.version, n.migration_guide) for n in loaded if n.migration_guide is not None]
    ids = [g.id for _v, g in guides]
    unknown = sorted(set(followed) - set(ids))
    if unknown:
        raise PlanError(f"params.guides_followed names {', '.join(unknown)}, which no release note between "
                        f"{current} and {to} mandates", field="params.guides_followed",
                        hint=f"the guides on this path: {', '.join(ids) or 'none'}")
    for v, g in guides:
        if g.id not in followed:
            raise PlanError(f"release note {v} mandates the migration guide {g.id} ({g.title}): a regular update "
                            f"across {v} is refused until it has been followed",
                            file=str(repo / v / "release-note.toml"), line=notes.guide_line(repo, v),
                            field="params.guides_followed",
                            hint=f"carry out {g.doc} of the Canopsis docs, then add \"{g.id}\" to "
                                 "params.guides_followed")


def steps(plan: Plan, params: UpdateParams, inv: Inventory) -> list[Step]:
    r = resolve(plan, params, inv)
    to, ed = r["to"], r["edition"]
    calver = versions.parse(to).scheme == "YY.MM"
    flags = list(dict.fromkeys(s.flag for n in r["notes"] for s in n.steps if s.kind == "reconfigure-flag"))
    if calver:
        flags = ["-edition", EDITIONS[ed], *flags]
    common = {"to": to, "edition": ed}
    out = [Step(f"broadcast@{NODE}", NODE, "canopsis.broadcast",
                {**common, "minutes": r["minutes"], "message": f"Canopsis update to {to}: service interruption"},
                description=f"POST /api/v4/broadcast-message (active {r['minutes']} min)")]
    for n in r["notes"]:
        out.append(Step(f"release-note-{n.version}@{NODE}", NODE, "canopsis.release_note",
                        {"version": n.version, "steps": [s.model_dump() for s in n.steps]},
                        description=f"release note {n.version}: " + (", ".join(_say(s.model_dump()) for s in n.steps)
                                                                      or "nothing to apply")))
    if inv.facts.get("install") == "compose":
        ref = compose.reference(str(inv.facts.get("compose_reference", "")), to)
        return out + _compose_steps(common, flags, plan.ready_timeout, compose.ordered_jobs(ref.read_text()),
                                    r["override"])
    tool = "dnf" if calver else "yum"
    out.append(Step(f"stop@{NODE}", NODE, "canopsis.stop", common, description="canoctl stop"))
    out.append(Step(f"packages@{NODE}", NODE, "canopsis.packages", {**common, "tool": tool},
                    compensation="canopsis.downgrade",
                    description=f'{tool} --disablerepo="*" --enablerepo="canopsis*" update canopsis-{to}'))
    if not calver:
        out.append(Step(f"canopsinit@{NODE}", NODE, "canopsis.canopsinit", common,
                        description=f"canopsinit --canopsis-edition {ed}"))
    out.append(Step(f"reconfigure@{NODE}", NODE, "canopsis.reconfigure", {**common, "flags": flags},
                    description=f"source go-engines-vars.conf; canopsis-reconfigure {' '.join(flags)}".rstrip()))
    out += _restart(common, calver, plan.ready_timeout)
    out.append(Step(f"verify@{NODE}", NODE, "canopsis.verify", common,
                    description=f"API app-info reports {to} {EDITIONS[ed]}; every engine started on {to}"))
    return out


def _compose_steps(common: dict[str, Any], flags: list[str], timeout: float, jobs: list[str],
                   given: tuple[Path, str] | None = None) -> list[Step]:
    up = (f"docker-compose up -d (Compose runs {', '.join(jobs)} first: condition: service_completed_successfully"
          f"; CPS_RECONFIGURE_FLAGS={' '.join(flags)})" if jobs else
          f"docker-compose up --exit-code-from reconfigure reconfigure ({' '.join(flags)}), "
          "then docker-compose up -d".replace("( )", "()").replace(" ()", ""))
    files = (f"docker-compose.yml, .env, compose.env <- reference files of {common['to']} "
             + (f"(etc/conf.d/canopsis-override.toml kept), {compose.OVERRIDE} <- {given[0]} "
                "(params.compose_override)" if given else
                "(docker-compose.override.yml and etc/conf.d/canopsis-override.toml kept)"))
    return [Step(f"compose-files@{NODE}", NODE, "canopsis.compose_files",
                 {**common, **({"override_file": str(given[0]), "override_sha256": compose.sha256(given[1].encode())}
                               if given else {})},
                 description=files),
            Step(f"compose-up@{NODE}", NODE, "canopsis.compose_up", {**common, "flags": flags},
                 gate=Gate("canopsis.ready", timeout),
                 description=up),
            Step(f"verify@{NODE}", NODE, "canopsis.verify", common,
                 description=f"API app-info reports {common['to']} {EDITIONS[common['edition']]}; "
                             f"every engine started on {common['to']}")]


def _restart(common: dict[str, Any], calver: bool, timeout: float, prefix: str = "",
             always: bool = False) -> list[Step]:
    via = "systemctl" if calver else "canoctl"
    args = {**common, "via": via, "units": _units(common["edition"]), "always": always}
    return [Step(f"{prefix}daemon-reload@{NODE}", NODE, "canopsis.daemon_reload", {**common, "always": always},
                 description="systemctl daemon-reload"),
            Step(f"{prefix}restart@{NODE}", NODE, "canopsis.restart", args, gate=Gate("canopsis.ready", timeout),
                 description="canoctl restart" if via == "canoctl" else "systemctl restart " + " ".join(args["units"]))]


def _say(s: dict[str, Any]) -> str:
    if s["kind"] == "config":
        return f"[{s['table']}] {s['key']} = {s['value']!r}"
    if s["kind"] == "migration":
        return f"canopsis-migrate {s['script']}"
    return f"reconfigure {s['flag']}"


def precheck(env: Environment, plan: Plan, params: UpdateParams) -> None:
    """Read-only: the node runs the planned version (or the target), its config parses, a Compose override
    names no service the target lacks, its broker answers."""
    r = resolve(plan, params, env.inventory)
    node = CanopsisNode.of(env)
    installed = node.installed_version()
    if not installed:
        raise RefusedError(f"no Canopsis package is installed under {node.root}\n"
                           "Hint: fix install_dir of host 'node' in the inventory")
    if installed not in (r["from"], r["to"]):
        raise RefusedError(f"the node runs {installed}, but the plan was computed from {r['from']}\n"
                           f"Hint: set params.from: \"{installed}\" (or update facts.version in the inventory)")
    for rel in ("etc/canopsis.toml", "etc/conf.d/canopsis-override.toml"):
        text = node.read(rel)
        if not text and rel.endswith("canopsis.toml"):
            raise RefusedError(f"{node.root}/{rel} is missing\nHint: restore it from the package or a backup")
        err = config.check(text, f"{node.root}/{rel}") if text else None
        if err:
            raise RefusedError(err)
    _mongodb_fcv(node, r)
    if (stray := _override_check(env, r["to"], r["override"])) and not stray.ok:
        raise RefusedError(f"{stray.detail}\nHint: {stray.fix}")
    compose_url = str(reveal(env.inventory.facts.get("node_amqp_url", ""))) \
        if env.inventory.facts.get("install") == "compose" else ""
    _broker_reachable(node, compose_url)


def _override_check(env: Environment, to: str, given: tuple[Path, str] | None = None) -> Check | None:
    """``compose override``, for a Compose installation: the docker-compose.override.yml in force after the
    resync — ``given`` (params.compose_override: path, text) when the plan gives one, else the installed
    one — names no service the target's docker-compose.yml lacks (:func:`compose.override_strays`). None for
    packages."""
    if env.inventory.facts.get("install") != "compose":
        return None
    text: str | None
    if given is not None:
        path, text = f"{given[0]} (params.compose_override)", given[1]
    else:
        project = compose.Project.of(env)
        path, text = f"{project.dir}/{compose.OVERRIDE}", project.read_or_none(compose.OVERRIDE)
    if text is None:
        return Check("compose override", NODE, True, f"no {compose.OVERRIDE}")
    target = compose.reference(str(env.inventory.facts["compose_reference"]), to).read_text()
    strays = compose.override_strays(text, target)
    if not strays:
        return Check("compose override", NODE, True, f"every service {path if given else compose.OVERRIDE} "
                     f"names is in {to}'s files")
    return Check("compose override", NODE, False,
                 f"{path} names {', '.join(strays)}, which Canopsis {to}'s {compose.FILE} does not have: Compose "
                 "would start each as a service of its own",
                 f"remove {', '.join(strays)} from {compose.OVERRIDE} (dropped upstream by {to}), then run again; "
                 f"or give the override edited for {to} as params.compose_override (a file beside the plan)")


def facts(env: Environment, plan: Plan, params: UpdateParams) -> dict[str, dict[str, str]]:
    """What the steps depend on (read-only, the precheck's reader): the node's installed version and edition."""
    node = CanopsisNode.of(env)
    return {NODE: {"installed version": node.installed_version(), "edition": node.edition()}}


def preflight(env: Environment, plan: Plan, params: UpdateParams) -> list[Check]:
    """Read-only, before a window (the precheck's readers): the node runs the version the plan was computed
    from; and the update from what it runs to the target is a regular one — a known version, the same
    major, below the target (:func:`versions.check_update`)."""
    node = CanopsisNode.of(env)
    installed = node.installed_version()
    planned = str(params.from_ or env.inventory.facts.get("version") or "")
    if not installed:
        return [Check("version", NODE, False, f"no Canopsis package is installed under {node.root}",
                      "fix install_dir of host 'node' in the inventory")]
    wrong = bool(planned) and installed != planned
    out = [Check("version", NODE, not wrong, f"installed {installed}" + (f", the plan says {planned}" if wrong else ""),
                 f'set params.from: "{installed}" (or facts.version in the inventory), then plan again'
                 if wrong else "")]
    repo = Path(str(env.inventory.facts.get("repository", "")))
    try:
        path = versions.check_update(notes.versions(repo), installed, params.to)
    except versions.VersionError as exc:
        return [*out, Check("upgrade path", NODE, False, str(exc), exc.hint)]
    if not path:
        return [*out, Check("upgrade path", NODE, False, f"the node already runs {params.to}",
                            "nothing to update: choose a later params.to")]
    out.append(Check("upgrade path", NODE, True, f"{installed} → {params.to} ({versions.kind(installed, params.to)}"
                     f"): release notes {', '.join(path)}"))
    given = given_override(plan, params, env.inventory)
    return [*out, *filter(None, [_override_check(env, params.to, given)])]


FCV_QUERY = "JSON.stringify(db.adminCommand({getParameter: 1, featureCompatibilityVersion: 1}))"
# a mongo shell on the node's PATH, else in Canopsis's bin/ (the stand-in's); CPS_MONGO_URL is sourced on
# the node so its credentials never enter an argv the harness records
_FCV_SH = ('set -a; [ -f "$1/etc/go-engines-vars.conf" ] && . "$1/etc/go-engines-vars.conf"; set +a; '
           'sh=$(command -v mongosh || command -v mongo || { [ -x "$1/bin/mongosh" ] && echo "$1/bin/mongosh"; }) '
           '|| exit 127; exec "$sh" --quiet ${CPS_MONGO_URL:+"$CPS_MONGO_URL"} --eval "$2"')


def _mongodb_fcv(node: CanopsisNode, r: dict[str, Any]) -> None:
    """The first migration guide on the path that names a featureCompatibilityVersion: MongoDB must report
    it now (later ones depend on what the earlier guides change, so only the first can be checked here).
    Without a mongo shell on the node there is nothing to ask: the plan's guides_followed stands."""
    first = next(((n.version, n.migration_guide) for n in r["notes"]
                  if n.migration_guide is not None and n.migration_guide.mongodb_fcv), None)
    if first is None:
        return
    v, guide = first
    res = node.exec(["sh", "-c", _FCV_SH, "fcv", node.programs_root, FCV_QUERY], timeout=60)
    if res.exit_code == 127:
        return
    try:
        got = json.loads(res.stdout.strip().splitlines()[-1])["featureCompatibilityVersion"]["version"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise RefusedError(f"cannot read MongoDB's featureCompatibilityVersion on the node (needed by release note "
                           f"{v}, guide {guide.id}): exit {res.exit_code} {(res.stderr or res.stdout).strip()[:300]}"
                           "\nHint: check CPS_MONGO_URL in etc/go-engines-vars.conf and that MongoDB runs") from None
    if got != guide.mongodb_fcv:
        raise RefusedError(f"release note {v} requires MongoDB featureCompatibilityVersion {guide.mongodb_fcv} "
                           f"before the update (guide {guide.id}: {guide.doc}); MongoDB reports {got}\n"
                           f"Hint: follow the guide's 'Vérification MongoDB' (db.adminCommand({{ "
                           f"setFeatureCompatibilityVersion: \"{guide.mongodb_fcv}\" }})), then run again")


def _broker_reachable(node: CanopsisNode, compose_url: str = "") -> None:
    # Compose: CPS_AMQP_URL is in the services' environment (the compose file), not in a vars file
    vars_file = "docker-compose.yml" if compose_url else f"{node.root}/etc/go-engines-vars.conf"
    lines = node.read("etc/go-engines-vars.conf").splitlines()
    found = [(i, ln.split("=", 1)[1].strip().strip("\"'")) for i, ln in enumerate(lines, 1)
             if ln.strip().startswith("CPS_AMQP_URL=")]
    if not found and not compose_url:
        raise RefusedError(f"{vars_file}: CPS_AMQP_URL is not set\nHint: add CPS_AMQP_URL=amqp://USER:PASS@HOST:5672/")
    line, url = (0, compose_url) if compose_url else found[-1]
    u = urlsplit(url)
    host, port = u.hostname or "", str(u.port or 5672)
    # from the node itself (its view of the network), with bash's /dev/tcp: nothing to install on the node
    res = node.exec(["timeout", "5", "bash", "-c", 'exec 3<>"/dev/tcp/$1/$2"', "probe", host, port], timeout=15)
    if not res.ok:
        raise RefusedError(f"{vars_file}:{line}: the broker at {host}:{port} (CPS_AMQP_URL) does not accept "
                           f"connections from the node\nHint: start RabbitMQ or fix CPS_AMQP_URL; "
                           "canopsis-reconfigure would fail with `failed to initialize rabbitmq`")


def rollback_steps(plan: Plan, params: UpdateParams, inv: Inventory, done: Done) -> list[Step]:
    r = resolve(plan, params, inv)
    prev = {"to": r["from"], "edition": r["edition"]}
    out: list[Step] = []
    before = next((obs["config_before"] for s, obs, _st in done if obs.get("config_before") is not None), None)
    if before is not None:
        out.append(Step(f"rb-config@{NODE}", NODE, "canopsis.config_restore", {"content": before},
                        description="restore canopsis.toml as it was before the run"))
    if inv.facts.get("install") == "compose":
        return out + _compose_rollback(prev, done, plan.ready_timeout)
    pkg = next(((s, obs) for s, obs, st in done if s.action == "canopsis.packages" and st != StepStatus.SKIPPED), None)
    calver = versions.parse(r["from"]).scheme == "YY.MM"
    if pkg and pkg[1].get("before"):
        out.append(Step(f"rb-packages@{NODE}", NODE, "canopsis.downgrade",
                        {"to": pkg[1]["before"], "tool": pkg[0].args["tool"]},
                        description=f"{pkg[0].args['tool']} downgrade canopsis-{pkg[1]['before']}"))
        prev["to"] = pkg[1]["before"]
    if not calver:
        out.append(Step(f"rb-canopsinit@{NODE}", NODE, "canopsis.canopsinit", prev,
                        description=f"canopsinit --canopsis-edition {r['edition']}"))
    flags = ["-edition", EDITIONS[r["edition"]]] if calver else []
    out.append(Step(f"rb-reconfigure@{NODE}", NODE, "canopsis.reconfigure", {**prev, "flags": flags, "always": True},
                    description="source go-engines-vars.conf; canopsis-reconfigure " + " ".join(flags)))
    out += _restart(prev, calver, plan.ready_timeout, prefix="rb-", always=True)
    out.append(Step(f"rb-verify@{NODE}", NODE, "canopsis.verify", prev,
                    description=f"API app-info reports {prev['to']}; every engine started on it"))
    return out



def _compose_rollback(prev: dict[str, Any], done: list[tuple[Step, dict[str, Any], StepStatus]],
                      timeout: float) -> list[Step]:
    out: list[Step] = []
    before = next((obs["before"] for s, obs, _st in done if s.action == "canopsis.compose_files"
                   and obs.get("before") is not None), None)
    if before is not None:
        out.append(Step(f"rb-compose-files@{NODE}", NODE, "canopsis.compose_restore", {"content": before},
                        description="restore docker-compose.yml, .env and compose.env as they were before the run"))
    out.append(Step(f"rb-compose-up@{NODE}", NODE, "canopsis.compose_up", {**prev, "flags": [], "always": True},
                    gate=Gate("canopsis.ready", timeout),
                    description="docker-compose up -d; recreate the engines and the API on the previous version"))
    out.append(Step(f"rb-verify@{NODE}", NODE, "canopsis.verify", prev,
                    description=f"API app-info reports {prev['to']}; every engine started on it"))
    return out


PROCEDURE = Procedure("canopsis-update", UpdateParams, steps, precheck, rollback_steps,
                      summary="regular update through every release note between the installed version and the "
                      "target, in order; packages, canopsinit, reconfigure, restart", facts=facts,
                      preflight=preflight)
