"""``harness preflight PLAN --target inventory.yaml [--json]``: read-only checks before a maintenance window.

Every check goes through :func:`harness.transports.readonly.environment`: its :class:`ReadOnlyTransport`
refuses (before anything reaches the host) any command outside :data:`READ_ONLY` (and the procedure's own
read-only commands) and every file write, and a product's client that talks to a node without a transport
refuses its writing requests while it is open: read-only is enforced, not hoped for.
Checks, per host: reachable with a known host key, the account (and ``become``) works, the commands the
plan needs are present, free disk under the install directory; per environment: no lease held on it, the
plan expands to steps. Then the procedure's own (versions, upgrade path, the load balancer), through the
optional ``preflight(env, plan, params) -> [Check]`` of :class:`harness.engine.procedure.Procedure`, given
the same read-only transports; a procedure that raises there gives one failing check, not a traceback.

Exit 0 when every check passes, 4 when one does not; each failing check is named with its fix.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from harness.engine.procedure import Check
from harness.errors import HarnessError
from harness.readonly import NotReadOnly
from harness.transports.base import Transport
from harness.transports.readonly import COMMAND_V, READ_ONLY, ReadOnlyTransport, environment

if TYPE_CHECKING:
    from harness.engine.procedure import Procedure
    from harness.environment import Environment
    from harness.plan.models import Plan

#: free space preflight wants under every install directory (MiB), unless the plan says otherwise
DEFAULT_FREE_MIB = 200


def _host_checks(name: str, t: Transport, install_dir: str, commands: Sequence[str], free_mib: int,
                 become: str | None, login: str | None) -> list[Check]:
    out: list[Check] = []
    try:
        who = t.run(["id", "-un"], timeout=30).stdout.strip()
    except HarnessError as exc:
        text = str(exc)
        msg, _, hint = text.partition("\nHint: ")
        return [Check("reachable", name, False, msg, hint or "check the host, its port and the inventory")]
    out.append(Check("reachable", name, True, t.target))
    want = become or login
    out.append(Check("account", name, not want or who == want, f"commands run as {who}",
                     "" if not want or who == want else f"expected {want}: fix `become`/the login user"))
    if commands:
        r = t.run(["sh", "-c", COMMAND_V, "preflight", *commands], timeout=30)
        missing = r.stdout.split()
        out.append(Check("commands", name, not missing, "present: " + ", ".join(commands) if not missing
                         else "missing: " + ", ".join(missing),
                         "" if not missing else f"install {', '.join(missing)} on {name} (or fix its PATH)"))
    r = t.run(["df", "-Pk", install_dir], timeout=30)
    if r.ok and len(r.stdout.splitlines()) >= 2:
        avail = int(r.stdout.splitlines()[-1].split()[3]) // 1024
        out.append(Check("disk", name, avail >= free_mib, f"{avail} MiB free under {install_dir}",
                         "" if avail >= free_mib else f"free at least {free_mib} MiB under {install_dir}"))
    else:
        out.append(Check("disk", name, False, f"df {install_dir}: {r.stderr.strip() or r.stdout.strip()}",
                         f"create {install_dir} or fix install_dir in the inventory"))
    return out


def _procedure_checks(proc: Procedure, plan: Plan, env: Environment) -> list[Check]:
    """The procedure's own checks; what it raises is one failing check named after the procedure."""
    from harness.plan.params import validate_params

    try:
        return list(proc.preflight(env, plan, validate_params(proc, plan)))
    except HarnessError as exc:
        msg, _, hint = str(exc).partition("\nHint: ")
        return [Check(proc.name, env.inventory.environment, False, msg, hint or "see the detail")]
    except Exception as exc:  # a product's reader that crashes: not ready, and said so
        return [Check(proc.name, env.inventory.environment, False, f"the procedure's preflight crashed: "
                      f"{type(exc).__name__}: {exc}", "report it to the product's maintainers")]


def preflight(plan_path: Path, target: Path, *, commands: Sequence[str] = (), free_mib: int = DEFAULT_FREE_MIB
              ) -> list[Check]:
    from harness.engine.lock import LeaseLock
    from harness.engine.runner import plan_steps
    from harness.plan.loader import load_inventory, load_plan
    from harness.registry import procedure

    plan, inv = load_plan(plan_path), load_inventory(target)
    checks: list[Check] = []
    lease = LeaseLock.for_inventory(inv, "preflight").current()
    held = lease is not None and lease.expires > time.time()
    checks.append(Check("lease", inv.environment, not held,
                        f"held by run {lease.holder} ({lease.executor})" if held and lease else "free",
                        f"wait for it, or see `harness status {lease.holder}`" if held and lease else ""))
    try:
        steps = plan_steps(plan, inv, plan_file=str(plan_path))
        checks.append(Check("plan", inv.environment, True, f"{len(steps)} steps"))
    except HarnessError as exc:
        msg, _, hint = str(exc).partition("\nHint: ")
        checks.append(Check("plan", inv.environment, False, msg, hint or "fix the plan or the inventory"))
    except Exception as exc:  # a procedure that crashes on this inventory: a failing check, not a traceback
        checks.append(Check("plan", inv.environment, False, f"the procedure could not expand the plan: "
                            f"{type(exc).__name__}: {exc}", "check the inventory's components and roles"))
    proc = procedure(plan.procedure)
    commands = [*commands, *proc.preflight_commands]
    with environment(inv, proc, "preflight") as env:
        for h in inv.hosts:
            s = inv.ssh_settings(h)
            login = h.transport.split("://", 1)[1].split("@", 1)[0] if h.transport.startswith("ssh://") else None
            checks += _host_checks(h.name, env.hosts[h.name].transport, h.install_dir, commands, free_mib,
                                   s.become.user if s.become else None, login)
        if all(c.ok for c in checks if c.name == "reachable"):
            checks += _procedure_checks(proc, plan, env)
    return checks


def preflight_cmd(plan: Annotated[Path, typer.Argument(help="plan file (YAML)")],
                  target: Annotated[Path, typer.Option("--target", "-t", help="inventory of the environment")],
                  command: Annotated[list[str] | None, typer.Option(
                      "--command", "-c", help="a command the runbook needs on every host (repeatable)")] = None,
                  free_mib: Annotated[int, typer.Option(help="free MiB wanted under each install_dir")
                                      ] = DEFAULT_FREE_MIB,
                  as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Read-only checks before a window. Exit 0 ready, 4 not ready (each failing check with its fix)."""
    from harness.cli._render import console, err

    try:
        checks = preflight(plan, target, commands=command or (), free_mib=free_mib)
    except HarnessError as exc:
        err.print(f"[red bold]preflight could not run[/]: {exc}")
        raise typer.Exit(4) from None
    ready = all(c.ok for c in checks)
    if as_json:
        typer.echo(json.dumps({"ready": ready, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        from rich.table import Table

        table = Table("check", "node", "", "detail", "fix")
        for c in checks:
            table.add_row(c.name, c.node, "[green]ok[/]" if c.ok else "[red]FAIL[/]", c.detail, c.fix)
        console.print(table)
        console.print("READY (exit 0)" if ready else "NOT READY (exit 4)")
    raise typer.Exit(0 if ready else 4)


def register(app: typer.Typer) -> None:
    app.command("preflight")(preflight_cmd)


__all__: list[str] = ["READ_ONLY", "Check", "NotReadOnly", "ReadOnlyTransport", "preflight", "register"]
