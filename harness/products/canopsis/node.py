"""Read-only questions and the runbook's commands on a Canopsis node, through its host's transport.

The node's files (``etc/``, ``var/``) are read and written under ``root`` on the host. Its commands run
on the host directly (packages installation), or through ``exec_prefix`` in the container of the API
service, where the programs see the same files under ``node_root`` (Compose installation:
``docker-compose exec -T api /opt/canopsis/bin/...``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.environment import Environment
from harness.products.canopsis import compose
from harness.transports.base import CommandResult, Transport

# argv, not a shell string: the script is fixed and the file and command come as arguments
SOURCED = 'set -o allexport; . "$1"; set +o allexport; shift; exec "$@"'
ENGINE_LOGS = ("engine-fifo", "engine-che", "engine-axe", "engine-correlation")


def unit_of(program: str) -> str:
    """The systemd unit of an engine (``engine-che``) or of the API (``api``), as the packages install them."""
    return "canopsis-service@canopsis-api.service" if program == "api" else f"canopsis-engine-go@{program}.service"


#: the node's systemd journal, as ``journalctl -o json`` prints it (one JSON object per line)
JOURNAL_FILE = "var/log/journal.json"


def journal_record(line: str) -> dict[str, Any] | None:
    """One ``journalctl -o json`` line as its record, with ``_ts`` (``__REALTIME_TIMESTAMP``, µs since the
    epoch, in seconds); None for a torn or foreign line."""
    if '"__REALTIME_TIMESTAMP"' not in line:
        return None  # not an entry; cheaper than a JSON parse of every line of a long journal
    try:
        rec = json.loads(line)
        return {**rec, "_ts": int(rec["__REALTIME_TIMESTAMP"]) / 1e6}
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class CanopsisNode:
    transport: Transport
    #: where the node's etc/ and var/ are on the host
    root: str
    #: what runs a node command on the host: nothing (packages), ``docker-compose exec -T api`` (Compose)
    exec_prefix: tuple[str, ...] = ()
    #: the programs' own view of ``root`` (``/opt/canopsis`` in a Compose service); default ``root``
    node_root: str = ""
    name: str = "node"

    @classmethod
    def of(cls, env: Environment) -> CanopsisNode:
        host = env.hosts["node"]
        if env.inventory.facts.get("install") == "compose":
            project = compose.Project.of(env)
            return cls(host.transport, host.install_dir, project.exec_prefix("api"), compose.SERVICE_ROOT)
        return cls(host.transport, host.install_dir)

    @property
    def programs_root(self) -> str:
        return self.node_root or self.root

    def bin(self, prog: str) -> str:
        return f"{self.programs_root}/bin/{prog}"

    def exec(self, argv: Sequence[str], *, timeout: float = 120.0) -> CommandResult:
        """``argv`` on the node (in the API service of a Compose installation)."""
        return self.transport.run([*self.exec_prefix, *argv], timeout=timeout, cwd=self.root)

    def run(self, prog: str, *args: str, timeout: float = 120.0) -> CommandResult:
        return self.exec([self.bin(prog), *args], timeout=timeout)

    def sourced(self, prog: str, *args: str, timeout: float = 300.0) -> CommandResult:
        """``set -o allexport ; source go-engines-vars.conf`` then the command (runbook step 4-5)."""
        return self.exec(["bash", "-c", SOURCED, "canopsis", f"{self.programs_root}/etc/go-engines-vars.conf",
                          self.bin(prog), *args], timeout=timeout)

    def read(self, rel: str) -> str:
        try:
            return self.transport.get(f"{self.root}/{rel}").decode(errors="replace")
        except FileNotFoundError:
            return ""

    def write(self, rel: str, text: str) -> None:
        self.transport.put(f"{self.root}/{rel}", text.encode())

    def json(self, rel: str) -> Any:
        text = self.read(rel)
        return json.loads(text) if text.strip() else None

    def installed_version(self) -> str:
        return str((self.json("var/lib/canopsis/package.json") or {}).get("version", ""))

    def version_doc(self) -> dict[str, Any]:
        return self.json("var/lib/canopsis/version.json") or {}

    def edition(self) -> str:
        return self.read("var/lib/canopsis/edition").strip() or "core"

    def log(self, name: str, *, file: str = "") -> list[dict[str, Any]]:
        """zerolog JSON lines of ``var/log/<name>.log`` (or ``file``; torn or foreign lines are skipped)."""
        out = []
        for line in self.read(file or f"var/log/{name}.log").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
        return out

    def records(self, name: str, since: float = 0.0) -> list[dict[str, Any]]:
        """JSON lines of ``var/log/<name>.log`` whose epoch ``time`` is at or after ``since`` (the records the
        stand-in's own tools keep with an epoch time: ``migrationtool``, ``migrations``)."""
        return [r for r in self.log(name) if isinstance(r.get("time"), int | float) and r["time"] >= since]

    def journal(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The node's journal entries (``var/log/journal.json``, as ``journalctl -o json`` prints them) logged
        at or after ``since`` (epoch seconds), in order; each with ``_ts``, its time in epoch seconds."""
        entries = (journal_record(line) for line in self.read(JOURNAL_FILE).splitlines())
        return [e for e in entries if e is not None and e["_ts"] >= since]

    def package_history(self, since: float = 0.0) -> list[dict[str, Any]]:
        """The package transactions (what ``yum history`` lists) that began at or after ``since``."""
        doc = self.json("var/lib/canopsis/package.json")
        history = doc.get("history", []) if isinstance(doc, dict) else []
        return [h for h in history if float(h.get("begin", h.get("time", 0))) >= since]

    def log_sizes(self) -> dict[str, int]:
        return {n: len(self.read(f"var/log/{n}.log")) for n in ENGINE_LOGS}

    def stats(self, prefix: str = "") -> dict[str, Any]:
        res = self.run("cps-stats", "--prefix", prefix, timeout=60).check()
        data: dict[str, Any] = json.loads(res.stdout)
        return data

    def units_active(self) -> bool:
        return self.run("canoctl", "status", timeout=60).ok

    def running_versions(self) -> dict[str, str]:
        """Engine → version it logged at its last ``engine started`` (running ones only)."""
        out = {}
        for n in ENGINE_LOGS:
            version, running = None, False
            for rec in self.log(n):
                if rec.get("message") == "engine started":
                    version, running = rec.get("version"), True
                elif rec.get("message") == "engine stopped":
                    running = False
            if running and version is not None:
                out[n] = version
        return out
