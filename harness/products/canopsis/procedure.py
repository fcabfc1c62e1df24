"""Canopsis regular update, single node (reference canopsis.md §2.3-§2.4).

Params (:class:`UpdateParams`): ``to`` (target version, required), ``from`` (installed version; default the inventory's
``facts.version``), ``edition`` (core|cat; default ``facts.edition``), ``broadcast_minutes`` (30).

Steps: post a broadcast message → apply the release note of every version after the installed one up to
the target, oldest first (one step each, so the journal says which were applied) → ``canoctl stop`` →
``yum --disablerepo="*" --enablerepo="canopsis*" update`` (``dnf makecache`` + ``dnf`` from 22.10) →
``canopsinit --canopsis-edition`` (4.x) → ``canopsis-reconfigure`` with the release notes' flags (and
``-edition`` from 22.10), sourced with go-engines-vars.conf → ``systemctl daemon-reload`` → ``canoctl
restart`` (``systemctl restart`` of the units from 22.10) → verify. The runner stops at the first failing
command, so daemon-reload and the restart only run when every earlier command succeeded.

Refused before anything runs (exit 4): an unknown version, a downgrade, a major jump, a missing or
malformed release note (planning), and at precheck a node on another version, a malformed
canopsis.toml, or a broker the node cannot reach.

Rollback (a release-note step, the packages, canopsis-reconfigure or the restart failed): canopsis.toml
as before the run, the previous package (``yum downgrade``), canopsis-reconfigure, daemon-reload,
restart, verify on the previous version. Migrations already applied stay applied (they only go forward).

Compose installation (inventory ``facts.install: compose``, project dir ``facts.compose_dir``): after the
release notes, ``docker-compose.yml`` is replaced by the reference file of the target version
(``facts.compose_reference/<to>/``; the operator's ``etc/conf.d/canopsis-override.toml`` is kept), then
``docker-compose up -d`` (the one-shot reconfigure service with the notes' flags, then the engines and the
API), then verify. Rollback: canopsis.toml and the previous compose file restored, ``up -d`` recreating
the engines and the API, verify. A target without a reference compose file is refused at planning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from harness.engine.procedure import Done, Params, Procedure
from harness.engine.step import Gate, Step, StepStatus
from harness.environment import Environment
from harness.errors import PlanError, RefusedError
from harness.plan.models import Inventory, Plan
from harness.products.canopsis import config, notes, versions
from harness.products.canopsis.actions import EDITIONS
from harness.products.canopsis.node import CanopsisNode
from harness.secrets import reveal

NODE = "node"
UNITS = {"core": ["engine-fifo", "engine-che", "engine-axe"],
         "cat": ["engine-fifo", "engine-che", "engine-axe", "engine-correlation"]}


def _units(edition: str) -> list[str]:
    return [f"canopsis-engine-go@{e}.service" for e in UNITS[edition]] + ["canopsis-service@canopsis-api.service"]


class UpdateParams(Params):
    to: str = Field(description="the target version, e.g. \"4.6.1\" (quoted: 4.6 would be a number)")
    from_: str | None = Field(None, alias="from", description="the installed version; default the "
                              "inventory's facts.version")
    edition: Literal["core", "cat"] | None = Field(None, description="core (Community) or cat (Pro); default "
                                                   "the inventory's facts.edition")
    broadcast_minutes: int = Field(30, ge=0, le=24 * 60, description="how long the broadcast message stays up")


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
        ref = Path(str(inv.facts.get("compose_reference", ""))) / to / "docker-compose.yml"
        if not ref.is_file():
            raise PlanError(f"no reference compose file for Canopsis {to} ({ref})", field="params.to",
                            hint="add containers/canopsis/compose/<version>/docker-compose.yml, or use the "
                                 "packages installation")
    return {"from": current, "to": to, "edition": edition, "path": path,
            "notes": [notes.load(repo, v) for v in path], "minutes": params.broadcast_minutes}


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
        return out + _compose_steps(common, flags, plan.ready_timeout)
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


def _compose_steps(common: dict[str, Any], flags: list[str], timeout: float) -> list[Step]:
    return [Step(f"compose-files@{NODE}", NODE, "canopsis.compose_files", common,
                 description=f"docker-compose.yml <- reference file of {common['to']} "
                             "(etc/conf.d/canopsis-override.toml kept)"),
            Step(f"compose-up@{NODE}", NODE, "canopsis.compose_up", {**common, "flags": flags},
                 gate=Gate("canopsis.ready", timeout),
                 description=f"docker-compose up -d (reconfigure {' '.join(flags)}, then engines and API)"
                 .replace("reconfigure ,", "reconfigure,")),
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
    """Read-only: the node runs the planned version (or the target), its config parses, its broker answers."""
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
    compose_url = str(reveal(env.inventory.facts.get("node_amqp_url", ""))) \
        if env.inventory.facts.get("install") == "compose" else ""
    _broker_reachable(node, compose_url)


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
                        description="restore docker-compose.yml as it was before the run"))
    out.append(Step(f"rb-compose-up@{NODE}", NODE, "canopsis.compose_up", {**prev, "flags": [], "always": True},
                    gate=Gate("canopsis.ready", timeout),
                    description="docker-compose up -d; recreate the engines and the API on the previous version"))
    out.append(Step(f"rb-verify@{NODE}", NODE, "canopsis.verify", prev,
                    description=f"API app-info reports {prev['to']}; every engine started on it"))
    return out


PROCEDURE = Procedure("canopsis-update", UpdateParams, steps, precheck, rollback_steps,
                      summary="regular update through every release note between the installed version and the "
                      "target, in order; packages, canopsinit, reconfigure, restart")
