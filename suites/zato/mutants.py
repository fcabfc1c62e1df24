"""Mutants of the Zato environment update: each breaks exactly one rule of ``rules-zato-update.yaml``.

They wrap the shipped procedure and gate (nothing here is shipped or registered unless a catalogue entry
names it through ``HARNESS_MUTANT``), so a mutant stays one small transformation of what really runs.
Product mutants are stand-in variants: the same stand-in with other code in one upstream revision.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.engine.actions import StepContext
from harness.engine.procedure import Done, Procedure
from harness.engine.step import Gate, Step
from harness.plan.models import Inventory, Plan
from harness.products.zato import actions, deploy
from harness.products.zato.procedures.install import EXTRA_PATHS, SERVICE_SOURCES
from harness.products.zato.procedures.update import RESTART, UPDATE
from harness.products.zato.standin import ZatoStandin
from harness.products.zato.standin import upstream as zato_upstream

Transform = Callable[[list[Step], Inventory], list[Step]]


def _role(inv: Inventory, node: str) -> str | None:
    return next((c.role for c in inv.components if c.name == node), None)


def _mutate(proc: Procedure, forward: Transform | None = None, back: Transform | None = None) -> Procedure:
    def steps(plan: Plan, params: Any, inv: Inventory) -> list[Step]:
        out = proc.steps(plan, params, inv)
        return forward(out, inv) if forward else out

    def rollback(plan: Plan, params: Any, inv: Inventory, done: Done) -> list[Step]:
        out = proc.rollback(plan, params, inv, done)
        return back(out, inv) if back else out

    return dataclasses.replace(proc, steps=steps, rollback=rollback)


def _restarts_of(steps: list[Step], inv: Inventory, role: str) -> list[Step]:
    return [s for s in steps if s.action in ("zato.stop", "zato.start") and _role(inv, s.node) == role]


def _move(steps: list[Step], inv: Inventory, role: str, *, to: str) -> list[Step]:
    """Move one role's stop/start steps to the start or the end of the restarts."""
    moving = _restarts_of(steps, inv, role)
    rest = [s for s in steps if s not in moving]
    if to == "end":
        return rest + moving
    first = next(i for i, s in enumerate(rest) if s.action in ("zato.stop", "zato.start"))
    return rest[:first] + moving + rest[first:]


# --- executor mutants ---------------------------------------------------------------------------------------

def _restart_before_code_update(steps: list[Step], inv: Inventory) -> list[Step]:
    code = [s for s in steps if s.parallel == "code-update"]
    return [s for s in steps if s not in code] + code


def _servers_at_once(steps: list[Step], inv: Inventory) -> list[Step]:
    """Every server's stop + start in one concurrent stage (each server still stops before it starts)."""
    moving = _restarts_of(steps, inv, "server")
    return [dataclasses.replace(s, parallel="servers") if s in moving else s for s in steps]


def _no_server_gate(steps: list[Step], inv: Inventory) -> list[Step]:
    return [dataclasses.replace(s, gate=None) if s.action == "zato.start" and _role(inv, s.node) == "server" else s
            for s in steps]


def _no_sync_internal(steps: list[Step], inv: Inventory) -> list[Step]:
    return [dataclasses.replace(s, args={**s.args, "sync_internal": False}, description=s.description.replace(
        " --sync-internal", "")) if s.action == "zato.start" else s for s in steps]


def _sync_internal_everywhere(steps: list[Step], inv: Inventory) -> list[Step]:
    return [dataclasses.replace(s, args={**s.args, "sync_internal": True}) if s.action == "zato.start" else s
            for s in steps]


def _skip_scheduler(steps: list[Step], inv: Inventory) -> list[Step]:
    return [s for s in steps if s not in _restarts_of(steps, inv, "scheduler")]


def _always_restart(steps: list[Step], inv: Inventory) -> list[Step]:
    """Force every restart, so a second run restarts components that already run the installed code."""
    return [dataclasses.replace(s, args={**s.args, "force": True}) if s.action in ("zato.stop", "zato.start") else s
            for s in steps]


def _rollback_keeps_new_code(steps: list[Step], inv: Inventory) -> list[Step]:
    return [s for s in steps if s.action != "zato.git_reset" and not s.id.startswith("reinstall@")]


RESTART_BEFORE_CODE_UPDATE = _mutate(UPDATE, _restart_before_code_update)
WEB_ADMIN_AFTER_SERVERS = _mutate(UPDATE, lambda s, inv: _move(s, inv, "web-admin", to="end"))
SERVERS_AT_ONCE = _mutate(UPDATE, _servers_at_once)
NO_SERVER_GATE = _mutate(UPDATE, _no_server_gate)
LB_BEFORE_SERVERS = _mutate(UPDATE, lambda s, inv: _move(s, inv, "load-balancer", to="start"))
SCHEDULER_FIRST = _mutate(UPDATE, lambda s, inv: _move(s, inv, "scheduler", to="start"))
SKIP_SCHEDULER = _mutate(UPDATE, _skip_scheduler)
NO_SYNC_INTERNAL = _mutate(UPDATE, _no_sync_internal)
RESTART_WITH_SYNC_INTERNAL = _mutate(RESTART, _sync_internal_everywhere)
ALWAYS_RESTART = _mutate(UPDATE, _always_restart)
ROLLBACK_KEEPS_NEW_CODE = _mutate(UPDATE, back=_rollback_keeps_new_code)


def ready_without_rotation(ctx: StepContext, gate: Gate) -> None:
    """The start gate, but a server counts as ready as soon as it answers: no wait for the load balancer
    to send it traffic again (the mutant a first probe found surviving every suite)."""
    comp = ctx.env.components[ctx.step.node]
    offset = int(ctx.observation.get("log_offset", 0))
    original = actions._wait_in_rotation
    actions._wait_in_rotation = lambda env, comp, timeout: {}  # type: ignore[assignment]
    try:
        ctx.observation.update(actions.wait_ready(ctx.env, comp, offset, gate.timeout, step=ctx.step.id))
    finally:
        actions._wait_in_rotation = original  # type: ignore[assignment]


# --- product mutants --------------------------------------------------------------------------------------

_SCHEMA_LINE = "            db.executescript(SCHEMA)  # CREATE ... IF NOT EXISTS: safe from every server at once\n"
_MIGRATION = """\
            try:  # 3.2.1: payloads are stored compressed
                db.execute("ALTER TABLE deployment_package ADD COLUMN payload_encoding TEXT")
            except sqlite3.OperationalError:  # another server migrated it
                pass
"""
_INSERT = '"server_id) VALUES (?, ?, ?, ?, ?)", (now, details, payload_name, payload, server_id))'
_INSERT_COMPRESSED = ('"server_id, payload_encoding) VALUES (?, ?, ?, ?, ?, \'zlib\')", '
                      '(now, details, payload_name, zlib.compress(payload), server_id))')
_READ = """\
        rows = self.read("SELECT payload_name, payload FROM deployment_package WHERE id=?", (package_id,))
        return str(rows[0][0]), bytes(rows[0][1])  # type: ignore[arg-type]
"""
_READ_COMPRESSED = """\
        rows = self.read("SELECT payload_name, payload, payload_encoding FROM deployment_package WHERE id=?",
                         (package_id,))
        data = bytes(rows[0][1])  # type: ignore[arg-type]
        return str(rows[0][0]), zlib.decompress(data) if rows[0][2] == "zlib" else data
"""


def _compressed_payloads(work: Path) -> None:
    """3.2.1 migrates the ODB at start (a ``payload_encoding`` column) and stores hot-deployed payloads
    zlib-compressed; it reads its own rows back, but a 3.2.0 server reads the compressed bytes as the module."""
    odb = work / "code/zato_standin/odb.py"
    for anchor, replacement in (("import sqlite3\n", "import sqlite3\nimport zlib\n"),
                                (_SCHEMA_LINE, _SCHEMA_LINE + _MIGRATION), (_INSERT, _INSERT_COMPRESSED),
                                (_READ, _READ_COMPRESSED)):
        zato_upstream.edit(odb, anchor, replacement)


class CompressedPayloadsStandin(ZatoStandin):
    """Zato stand-ins whose 3.2.1 writes hot-deploy packages the 3.2.0 servers of the rolling window cannot read."""

    def upstream_changes(self) -> dict[str, zato_upstream.Change]:
        return {zato_upstream.UPDATE: _compressed_payloads}


NEW_SERVERS_WRITE_PAYLOADS_OLD_CANNOT_READ = CompressedPayloadsStandin()


# --- static service installation (rules-zato-service-sources.yaml, rules-zato-extra-paths.yaml) -------------

def _no_server_restart(steps: list[Step], inv: Inventory) -> list[Step]:
    moving = _restarts_of(steps, inv, "server")
    return [s for s in steps if s not in moving]


def _restart_before_the_files(steps: list[Step], inv: Inventory) -> list[Step]:
    """The rolling restart first, the files and service-sources.txt entries after it."""
    files = [s for s in steps if s.action == "zato.put_files"]
    rest = [s for s in steps if s not in files]
    last = max(i for i, s in enumerate(rest) if s.action in ("zato.stop", "zato.start"))
    return rest[:last + 1] + files + rest[last + 1:]


def _only_on_the_first(kind: str) -> Transform:
    """The ``kind@NODE`` steps (``sources``: modules and service-sources.txt; ``extra-paths``: the package) on
    the first node only; the others keep what they had."""
    def transform(steps: list[Step], inv: Inventory) -> list[Step]:
        mine = [s for s in steps if s.id.startswith(f"{kind}@")]
        return [s for s in steps if s not in mine[1:]]
    return transform


SOURCES_ON_THE_FIRST_SERVER_ONLY = _mutate(SERVICE_SOURCES, _only_on_the_first("sources"))
SOURCES_WITHOUT_RESTART = _mutate(SERVICE_SOURCES, _no_server_restart)
SOURCES_AFTER_THE_RESTART = _mutate(SERVICE_SOURCES, _restart_before_the_files)
SOURCES_SERVERS_AT_ONCE = _mutate(SERVICE_SOURCES, _servers_at_once)
PACKAGE_ON_THE_FIRST_HOST_ONLY = _mutate(EXTRA_PATHS, _only_on_the_first("extra-paths"))
PACKAGE_WITHOUT_RESTART = _mutate(EXTRA_PATHS, _no_server_restart)
PACKAGE_SERVERS_AT_ONCE = _mutate(EXTRA_PATHS, _servers_at_once)


# --- service installation (rules-zato-hot-deploy.yaml) -------------------------------------------------------

def deployed_on_first_confirmation(ctx: StepContext, gate: Gate) -> None:
    """The hot-deploy gate, but the package counts as available as soon as one server logged it."""
    from harness.products.zato import odb, state
    from harness.products.zato.logs import parse_log
    from harness.wait import wait_until

    obs, env = ctx.observation, ctx.env
    names: list[str] = list(obs.get("dropped", []))
    offsets = obs.get("log_offsets", {})

    def one_confirmed() -> bool:
        latest: dict[str, int] = {}
        for s in odb.servers(env):
            for e in parse_log(state.read_log(s)[int(offsets.get(s.name, 0)):]):
                if e.kind == "uploaded_package" and e.fields.get("payload_name") in names:
                    latest[e.fields["payload_name"]] = int(e.fields["package_id"])
        if set(latest) >= set(names):
            obs.update(packages=latest, confirmed={}, available_at=time.time())
            return True
        return False

    wait_until(one_confirmed, timeout=gate.timeout, interval=0.005, what="one server's confirmation")


class RedeployAlways(deploy.HotDeploy):
    """Hot-deploy that writes the modules again on a second run (no skip when they are deployed everywhere)."""

    def skip(self, ctx: StepContext) -> str | None:
        super().skip(ctx)
        ctx.observation["todo"] = [p.name for p in deploy._payloads(ctx)]
        return None
