"""Checks of Zato service installation, judged on what the servers logged and what the ODB holds.

``check_confirmed`` is the rule of reference §1.7: a package is available only once every server of the
cluster confirmed it, once per server process (``Uploaded package id:[N], payload_name:[x.py]``) and in
``deployment_status``; when given the moment the executor declared it available, every confirmation
must be at or before it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from harness.checks import Verdict, checker
from harness.environment import Environment
from harness.products.zato import odb, state
from harness.products.zato.logs import LogEvent, parse_log


def uploaded_lines(env: Environment, package_id: int) -> dict[str, list[LogEvent]]:
    """Each server's ``Uploaded package`` events for ``package_id``."""
    return {s.name: [e for e in parse_log(state.read_log(s)) if e.kind == "uploaded_package"
                     and e.fields.get("package_id") == package_id] for s in odb.servers(env)}


@checker("confirmed")
def check_confirmed(env: Environment, package_id: int, payload_name: str,
                    available_at: float | None = None) -> Verdict:
    lines = uploaded_lines(env, package_id)
    statuses = {r[2]: r[3] for r in odb.package_statuses(env, package_id - 1) if r[0] == package_id}
    problems = []
    for server, evs in lines.items():
        if len(evs) != 1:
            problems.append(f"{server}: {len(evs)} `Uploaded package id:[{package_id}]` lines, expected 1")
        elif evs[0].fields.get("payload_name") != payload_name:
            problems.append(f"{server}: payload_name {evs[0].fields.get('payload_name')!r}")
        elif available_at is not None and evs[0].ts > datetime.fromtimestamp(available_at, UTC):
            problems.append(f"{server} confirmed at {evs[0].ts.isoformat()} after the package was declared available")
    wrong = {s: st for s, st in statuses.items() if st != "deployed"}
    if wrong or set(statuses) != set(lines):
        problems.append(f"deployment_status: {statuses}")
    details: dict[str, Any] = {"statuses": statuses, "problems": problems,
                               "confirmed_at": {s: e[0].ts.isoformat() for s, e in lines.items() if e}}
    return Verdict(not problems, details)


def deployed_snapshot(env: Environment) -> dict[str, Any]:
    """What a refused deployment must not change: every server's services and their source hashes, and
    the last package id."""
    rows = odb.deployed_services(env)
    return {"services": sorted((r.server, r.service, r.source_hash) for r in rows),
            "max_package_id": odb.max_package_id(env)}
