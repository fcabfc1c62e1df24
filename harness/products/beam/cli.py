"""``harness patch``: build a patch archive and drive a master domain's System/Patch service.

The system is named by ``--master URL`` (plus ``--user``/``--password``) or by ``--inventory FILE`` (what
``harness standins up beam`` writes): the service's URL, the credentials and every node's agent address
come from it. The anti-patch of ``apply`` and ``rollback`` talk to each node's agent; with an inventory they
use its addresses (the ones the harness reaches, e.g. ports published by containers), without one the
addresses the nodes report.

Exit codes: 0 integral status >= not_changed (5: not_changed/ok/not_loaded); 11..14 = 10 + the
integral code (error, not_beam, wrong_path, not_updated); 4 refused (bad archive, wrong version,
not admin, too large; nothing changed); 7 the service or an agent is unreachable (3 before issue 14;
the table of every command is :class:`harness.errors.ExitCode`); 2 usage.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from harness.errors import ConfigError, ExitCode, RefusedError, TransportError
from harness.products.beam import AgentClient, AntiPatch, PatchClient, PatchResult, build_patch
from harness.products.beam.domain import Domain
from harness.products.beam.status import EXIT_REFUSED, EXIT_UNREACHABLE

app = typer.Typer(help="Hot patch of an Erlang-based system: build, check, apply, delete, rollback.",
                  no_args_is_help=True)
_out = Console()
_err = Console(stderr=True)

Master = Annotated[str, typer.Option("--master", envvar="HARNESS_PATCH_MASTER",
                                     help="patch service URL (default: the inventory's)")]
InventoryOpt = Annotated[Path | None, typer.Option(
    "--inventory", envvar="HARNESS_PATCH_INVENTORY", exists=True, dir_okay=False,
    help="the system's inventory: service URL, credentials and agent addresses from it")]
User = Annotated[str, typer.Option("--user", envvar="HARNESS_PATCH_USER")]
Password = Annotated[str, typer.Option("--password", envvar="HARNESS_PATCH_PASSWORD")]
ArchiveOpt = Annotated[Path | None, typer.Option("--archive", exists=True, dir_okay=False,
                                                    help="upload this zip first")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the raw JSON result")]


def _fail(exc: Exception) -> typer.Exit:
    _err.print(f"[red]{exc}[/red]")
    if isinstance(exc, ConfigError):
        return typer.Exit(ExitCode.USAGE)
    if isinstance(exc, RefusedError):
        return typer.Exit(EXIT_REFUSED)
    return typer.Exit(EXIT_UNREACHABLE)


@dataclass
class _System:
    """Where the service is, who logs in, and (with an inventory) where every node's agent is."""

    master: str
    user: str
    password: str
    domain: Domain | None = None

    def client(self) -> PatchClient:
        return PatchClient(self.master, self.user, self.password)

    def agents(self, client: PatchClient) -> list[AgentClient]:
        if self.domain is not None:
            return [self.domain.agent(n) for n in self.domain.names]
        return [AgentClient.parse(n["agent"], name=n["node"]) for n in client.nodes()]


def _domain(inventory: Path | None) -> Domain | None:
    if inventory is None:
        return None
    from harness.plan.loader import load_inventory

    return Domain.from_inventory(load_inventory(inventory))


def _check_master(master: str) -> str:
    """A usage error (exit 2) for a ``--master`` that is no ``http(s)://HOST:PORT`` URL, before anything
    is sent: requests would otherwise fail it as an unreachable service (exit 3)."""
    hint = "--master takes the patch service's URL: http://HOST:PORT (or https://)"
    try:
        url = urllib.parse.urlsplit(master)
        port = url.port  # ValueError when not a number or out of range
    except ValueError as exc:
        raise ConfigError(f"--master {master!r} is not a URL: {exc}", field="--master", hint=hint) from None
    host = url.hostname or ""
    if url.scheme not in ("http", "https") or not host or not re.fullmatch(r"[A-Za-z0-9._:\[\]-]+", host) \
            or port == 0:
        raise ConfigError(f"--master {master!r} is not an http(s)://HOST:PORT URL", field="--master", hint=hint)
    return master


def _system(master: str, user: str, password: str, inventory: Path | None) -> _System:
    """``--master``/``--user``/``--password`` as given; what is missing comes from ``--inventory``."""
    if master:
        _check_master(master)
    dom = _domain(inventory)
    if dom is None:
        if not master:
            raise ConfigError("no patch service given", hint="pass --master URL or --inventory FILE")
        return _System(master, user, password)
    if not password:
        user, password = dom.user, dom.password
    return _System(master or dom.service_url, user, password, dom)


def _table(result: PatchResult, as_json: bool) -> None:
    if as_json:
        _out.print_json(json.dumps(result.raw or {"action": result.action, "rows": result.rows()}))
        return
    table = Table(title=f"{result.action} {result.patch}".strip())
    for col in ("node", "path", "status", "code", "reason"):
        table.add_column(col)
    for row in result.rows():
        table.add_row(*row, style="bold" if row[1] == "(node integral)" else None)
    _out.print(table)
    _out.print(f"integral: {result.integral.label} ({int(result.integral)})")
    if result.reboot_required():
        _out.print(f"manual reboot required (System/Nodes): {', '.join(result.reboot_required())}")


@app.command()
def build(modules: Annotated[list[str], typer.Argument(help="APP:FILE.erl or APP:FILE.beam")],
          version: Annotated[str, typer.Option("--version", help="the system version the patch is for")],
          out: Annotated[Path, typer.Option("--out", help="zip to write")],
          name: Annotated[str | None, typer.Option("--name")] = None) -> None:
    """Build a patch zip (manifest + APP/ebin/MOD.beam), checked against the limits."""
    try:
        path = build_patch(modules, version, out, name=name)
    except (ConfigError, RefusedError) as exc:
        raise _fail(exc) from None
    _out.print(f"{path} ({path.stat().st_size} bytes) for system {version}")


@app.command()
def upload(archive: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
           master: Master = "", user: User = "admin", password: Password = "",
           inventory: InventoryOpt = None) -> None:
    """Upload a zip and print its unpacked composition."""
    try:
        with _system(master, user, password, inventory).client() as client:
            comp = client.upload(archive)
    except (ConfigError, RefusedError, TransportError) as exc:
        raise _fail(exc) from None
    for e in comp["entries"]:
        _out.print(f"{e['kind']:9} {e['size']:>9}  {e['path']}")


def _run(action: str, master: str, user: str, password: str, inventory: Path | None, archive: Path | None,
         as_json: bool, anti_patch: Path | None = None) -> None:
    try:
        system = _system(master, user, password, inventory)
        with system.client() as client:
            if archive is not None:
                client.upload(archive)
            if action == "apply" and anti_patch is not None:
                comp = client.composition()
                paths = [e["path"] for e in comp["entries"] if e["kind"] == "beam"]
                AntiPatch.capture(system.agents(client), paths).save(anti_patch)
                _err.print(f"anti-patch saved to {anti_patch}")
            result = client.check() if action == "check" else client.apply()
    except (ConfigError, RefusedError, TransportError) as exc:
        raise _fail(exc) from None
    _table(result, as_json)
    raise typer.Exit(result.exit_code)


@app.command()
def check(master: Master = "", user: User = "admin", password: Password = "", archive: ArchiveOpt = None,
          inventory: InventoryOpt = None, as_json: JsonOpt = False) -> None:
    """Per node: each module's expected status and the integral status."""
    _run("check", master, user, password, inventory, archive, as_json)


@app.command("apply")
def apply_(master: Master = "", user: User = "admin", password: Password = "", archive: ArchiveOpt = None,
           inventory: InventoryOpt = None,
           anti_patch: Annotated[Path | None, typer.Option("--anti-patch", help="where to save the anti-patch "
                                                              "(default antipatch-<sha>.json)")] = None,
           no_anti_patch: Annotated[bool, typer.Option("--no-anti-patch")] = False,
           as_json: JsonOpt = False) -> None:
    """Capture the anti-patch on every node, then apply; per node result, integral = min."""
    target = None
    if not no_anti_patch:
        target = anti_patch or Path("antipatch.json")
    _run("apply", master, user, password, inventory, archive, as_json, target)


@app.command()
def delete(master: Master = "", user: User = "admin", password: Password = "",
           inventory: InventoryOpt = None) -> None:
    """Delete the uploaded archive (so it cannot be applied by accident)."""
    try:
        with _system(master, user, password, inventory).client() as client:
            client.delete()
    except (ConfigError, RefusedError, TransportError) as exc:
        raise _fail(exc) from None
    _out.print("deleted")


@app.command()
def rollback(anti_patch: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
             inventory: InventoryOpt = None, as_json: JsonOpt = False) -> None:
    """Restore the object code captured before an apply; verify every md5 afterwards. The agents are
    reached at the inventory's addresses, or else at those saved in the anti-patch."""
    try:
        ap = AntiPatch.load(anti_patch)
        dom = _domain(inventory)
        agents = None if dom is None else {dom.erlang_node(n): dom.agent(n) for n in dom.names}
        result = ap.restore(agents)
        diff = ap.verify(agents)
    except (ConfigError, RefusedError, TransportError) as exc:
        raise _fail(exc) from None
    _table(result, as_json)
    if diff:
        _err.print(f"[red]md5 differs after rollback: {diff}[/red]")
        raise typer.Exit(max(result.exit_code, ExitCode.PRODUCT_RESULT + 1))
    raise typer.Exit(result.exit_code)
