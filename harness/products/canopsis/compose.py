"""The Compose installation of Canopsis: a project directory on a host, and ``docker-compose`` run there.

A project directory (``facts.compose_dir``, on host ``node``) holds what an operator keeps: the
reference files of the installed version as upstream ships them (``docker-compose.yml``, ``.env`` with
``CANOPSIS_IMAGE_TAG``, ``compose.env``, and from 22.10 ``community.env`` or ``pro.env``; from
``facts.compose_reference/<version>/``, a directory on the controller), the operator's own
``docker-compose.override.yml`` and ``etc/conf.d/canopsis-override.toml``, ``etc/canopsis.toml``, and
``var/`` (state and logs shared by the services). An update resynchronises the reference files (the
target's set: a file an earlier set had and the target's has not is removed) and leaves the operator's
files alone. The project name is ``facts.compose_project`` (``-p``), since upstream's ``.env`` names none.
Everything goes through the host's transport, in the project directory: ``docker-compose`` (1.29, Debian)
or ``docker compose`` (v2), whichever the host has (``facts.compose_command``; asked once when missing),
against the Docker engine that host reaches.
Node commands (migrations, stats) run in the API service: ``docker-compose exec -T api …``.

Ordering the one-shot jobs: 4.x files have plain ``depends_on`` lists, so the executor runs ``reconfigure``
to its end first (:meth:`Project.run_once`), then ``up -d`` of the others. 22.10+ files say it themselves
(``depends_on: {reconfigure: {condition: service_completed_successfully}}``, the jobs waiting for
``timescaledb`` and ``rabbitmq`` with ``condition: service_healthy``), so ``up -d`` alone runs the jobs
before the components and fails when one exits non-zero (:func:`ordered_jobs`). 23.10 drops
``migrate-metrics-meta`` and adds ``mongodb`` (a replica set) and the one-shot ``mongodb-rs-init``, which
reconfigure waits for (``service_completed_successfully``) after ``mongodb`` is ``service_healthy``; 24.04 keeps
that set (the shells become ``mongosh``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from harness.environment import Environment
from harness.transports.base import CommandResult, Transport

FILE = "docker-compose.yml"
#: the reference files every version ships (4.x: exactly these; 22.10+ adds ``${CPS_EDITION}.env``)
FILES = (FILE, ".env", "compose.env")
#: the operator's own Compose overrides (read by Compose after FILE): never touched by an update
OVERRIDE = "docker-compose.override.yml"
# upstream's service names (community/docker-compose/docker-compose.yml); reconfigure is one-shot. The
# 22.10+ files add timescaledb (long-running) and migrate-metrics-meta (one-shot, 22.10-23.04); 23.10+
# mongodb (long-running) and mongodb-rs-init (one-shot)
SERVICES = ("rabbitmq", "fifo", "che", "axe", "api")
ENGINES_AND_API = ("fifo", "che", "axe", "api")
#: where the services see the project's bin/, etc/ and var/ (the compose files mount them there)
SERVICE_ROOT = "/opt/canopsis"

# fixed scripts; what they act on comes as arguments
_PROBE = ("if command -v docker-compose >/dev/null 2>&1; then echo docker-compose; "
          "elif docker compose version >/dev/null 2>&1; then echo docker compose; else exit 1; fi")
#: where a project keeps the files an update replaced (its own directory, on the host: the files hold the
#: installation's passwords, e.g. compose.env's broker and database URLs, which must not travel into a journal)
BACKUP = ".harness-backup"
#: keep each of "$2"... in "$1" (the directory made private) as a copy named by its SHA-256, mode kept, an existing
#: copy of that content left as it is; one line per file, in order: its SHA-256, or "-" when there is no such file
_KEEP = ('set -e; d="$1"; shift; mkdir -p "$d"; chmod 700 "$d"; for f; do if [ -e "$f" ]; then '
         's=$(sha256sum -- "$f" | cut -d" " -f1); [ -e "$d/$s" ] || { cp -p -- "$f" "$d/$s.tmp"; '
         'mv -f -- "$d/$s.tmp" "$d/$s"; }; echo "$s"; else echo -; fi; done')
#: the SHA-256 of each of "$@", one line each, in order ("-" when there is no such file)
_DIGESTS = 'for f; do if [ -e "$f" ]; then sha256sum -- "$f" | cut -d" " -f1; else echo -; fi; done'
#: copy "$1" over "$2", keeping its mode (through a temporary name, so "$2" is never half-written)
_PUT_BACK = 'set -e; cp -p -- "$1" "$2.tmp"; mv -f -- "$2.tmp" "$2"'


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_SWEEP = ('command -v docker >/dev/null 2>&1 || exit 0; ids=$(docker ps -aq --filter "label=$1"); '
          '[ -z "$ids" ] || docker rm -f -v $ids >/dev/null; nets=$(docker network ls -q --filter "label=$1"); '
          '[ -z "$nets" ] || docker network rm $nets >/dev/null; exit 0')


def command(transport: Transport) -> list[str] | None:
    """``docker-compose`` when the host has it, else ``docker compose`` if that plugin answers, else None."""
    res = transport.run(["sh", "-c", _PROBE, "probe"], timeout=60)
    return res.stdout.split() if res.ok and res.stdout.split() else None


def reference(reference_dir: str | Path, version: str, name: str = FILE) -> Path:
    """A reference file of ``version`` (on the controller): ``docker-compose.yml``, ``.env``, ``compose.env``…"""
    return Path(reference_dir) / version / name


def files(reference_dir: str | Path, version: str) -> tuple[str, ...]:
    """The reference file set of ``version``, as upstream ships it (what is in its directory): resynchronised
    as a whole by an update. ``docker-compose.yml`` first."""
    names = sorted(p.name for p in (Path(reference_dir) / version).iterdir() if p.is_file())
    return tuple(sorted(names, key=lambda n: n != FILE))


def known_files(reference_dir: str | Path) -> tuple[str, ...]:
    """Every name a version's reference set has: an update removes those the target's set does not (a file
    upstream dropped), and touches no other file of the project (the operator's overrides)."""
    return tuple(sorted({n for d in Path(reference_dir).iterdir() if d.is_dir() for n in files(reference_dir,
                                                                                            d.name)}))


def services(text: str) -> dict[str, dict[str, Any]]:
    """The services of a compose file's text, YAML anchors and ``<<`` merges resolved."""
    doc = yaml.safe_load(text) or {}
    return dict(doc.get("services") or {})


class NotACompose(ValueError):
    """A text that is not a Compose file: invalid YAML, or no mapping of services; ``line`` (1-based) when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def override_services(text: str) -> dict[str, int]:
    """The services an override file names -> the line each is named at (1-based); :class:`NotACompose` when
    the text is not YAML, or its top level is not a mapping whose ``services`` (when present) is one."""
    try:
        node = yaml.compose(text)
        yaml.safe_load(text)  # anchors, merges and tags as Compose reads them
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise NotACompose(f"invalid YAML: {getattr(exc, 'problem', None) or exc}",
                          mark.line + 1 if mark else None) from None
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise NotACompose("its top level is not a mapping", node.start_mark.line + 1)
    svcs = next((v for k, v in node.value if k.value == "services"), None)
    if svcs is None or (isinstance(svcs, yaml.ScalarNode) and svcs.value in ("", "null", "~")):
        return {}
    if not isinstance(svcs, yaml.MappingNode):
        raise NotACompose("`services` is not a mapping of service names", svcs.start_mark.line + 1)
    return {str(k.value): k.start_mark.line + 1 for k, _v in svcs.value}


def override_strays(override_text: str, target_text: str) -> list[str]:
    """The services the operator's override names that the target's docker-compose.yml does not have: Compose
    would start each as a service of its own (a service upstream dropped, e.g. 22.10's migrate-metrics-meta
    in 23.10, comes back with whatever the override gives it)."""
    return sorted(set(services(override_text)) - set(services(target_text)))


def ordered_jobs(text: str) -> list[str]:
    """The one-shot jobs Compose itself runs first: the services another one depends on with ``condition:
    service_completed_successfully`` (22.10+), in the file's order. Empty for a 4.x file."""
    svcs = services(text)
    waited = {name for svc in svcs.values() if isinstance(svc.get("depends_on"), dict)
              for name, rule in svc["depends_on"].items()
              if (rule or {}).get("condition") == "service_completed_successfully"}
    return [name for name in svcs if name in waited]


@dataclass(frozen=True)
class State:
    """A service's container as the engine recorded it (``docker inspect``): status, exit code, times."""

    service: str
    status: str
    exit_code: int
    started_at: float
    finished_at: float | None  # None while running

    @classmethod
    def parse(cls, service: str, raw: dict[str, Any]) -> State:
        def ts(v: str) -> float | None:
            return None if not v or v.startswith("0001-") else datetime.fromisoformat(v).timestamp()

        return cls(service, raw["Status"], int(raw["ExitCode"]), ts(raw["StartedAt"]) or 0.0, ts(raw["FinishedAt"]))


def sweep(transport: Transport, label: str) -> None:
    """Remove every container and network carrying ``label`` (``KEY=VALUE``), through the host's Docker CLI:
    what ``down`` left (a replaced or broken compose file, a failed start)."""
    transport.run(["sh", "-c", _SWEEP, "sweep", label], timeout=180)


@dataclass
class Project:
    """A Compose project directory on a host, and the Compose command the host runs."""

    transport: Transport
    dir: str
    command: tuple[str, ...] = ("docker-compose",)

    #: ``-p NAME``: upstream's .env names no project, and an update replaces .env, so the name travels here
    name: str = ""

    @classmethod
    def of(cls, env: Environment) -> Project:
        host, facts = env.hosts["node"], env.inventory.facts
        cmd = facts.get("compose_command") or command(host.transport) or ["docker-compose"]
        return cls(host.transport, str(facts["compose_dir"]), tuple(cmd), str(facts.get("compose_project", "")))

    def argv(self, *args: str) -> list[str]:
        return [*self.command, *(("-p", self.name) if self.name else ()), *args]

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300.0) -> CommandResult:
        return self.transport.run(self.argv(*args), cwd=self.dir, env=env, timeout=timeout)

    def exec_prefix(self, service: str = "api") -> tuple[str, ...]:
        """How a command runs in ``service``'s container (no TTY: the transport gives no stdin)."""
        return (*self.argv(), "exec", "-T", service)

    def run_once(self, service: str, env: dict[str, str] | None = None, timeout: float = 300.0) -> CommandResult:
        """Run a one-shot service to its end, attached: the result carries its exit code. (4.x files have no
        ``condition: service_completed_successfully``, so the caller orders it before the others; with a
        22.10+ file, :meth:`ordered_jobs` names the jobs ``up`` orders itself.)"""
        return self.run("up", "--no-deps", "--no-color", "--exit-code-from", service, service, env=env, timeout=timeout)

    def ordered_jobs(self) -> list[str]:
        """The one-shot jobs this project's docker-compose.yml makes Compose run first (:func:`ordered_jobs`)."""
        return ordered_jobs(self.read(FILE))

    def states(self) -> dict[str, State]:
        """Every container of the project, stopped ones too, by service (``ps -a -q``, then ``docker inspect``)."""
        ids = self.run("ps", "-a", "-q", timeout=60).stdout.split()
        if not ids:
            return {}
        fmt = '{{index .Config.Labels "com.docker.compose.service"}} {{json .State}}'
        res = self.transport.run(["docker", "inspect", "--format", fmt, *ids], timeout=60)
        out = {}
        for line in res.stdout.splitlines():
            name, _, raw = line.partition(" ")
            if raw:
                out[name] = State.parse(name, json.loads(raw))
        return out

    def read(self, rel: str) -> str:
        return self.transport.get(f"{self.dir}/{rel}").decode(errors="replace")

    def read_or_none(self, rel: str) -> str | None:
        """:meth:`read`, None when the project has no such file (one transfer, not an exists() and a read)."""
        try:
            return self.read(rel)
        except FileNotFoundError:
            return None

    def write(self, rel: str, text: str) -> None:
        self.transport.put(f"{self.dir}/{rel}", text.encode())

    def keep(self, names: Iterable[str]) -> dict[str, str | None]:
        """Keep a copy of each of ``names`` on the host, in :data:`BACKUP`, named by the SHA-256 of its content,
        in one command; each name -> that digest (None: the project has no such file). What a rollback needs is
        then the digests alone."""
        return self._per_file(names, "keep", _KEEP, f"{self.dir}/{BACKUP}")

    def digests(self, names: Iterable[str]) -> dict[str, str | None]:
        """Each of ``names`` -> the SHA-256 of its content in the project, None when it has no such file (one
        command)."""
        return self._per_file(names, "digests", _DIGESTS)

    def _per_file(self, names: Iterable[str], tag: str, script: str, *first: str) -> dict[str, str | None]:
        names = list(names)
        res = self.transport.run(["sh", "-c", script, tag, *first, *(f"{self.dir}/{n}" for n in names)],
                                 timeout=60).check()
        lines = res.stdout.split()
        if len(lines) != len(names):
            raise ValueError(f"`{tag}` gave {len(lines)} digests for {len(names)} files: {res.stdout[-300:]!r}")
        return {n: None if d == "-" else d for n, d in zip(names, lines, strict=True)}

    def put_back(self, rel: str, digest: str | None) -> None:
        """Make ``rel`` the content :meth:`keep` returned ``digest`` for (None: no such file). Raises
        :class:`ValueError` naming the copy when it is gone or no longer has that content."""
        if digest is None:
            self.remove(rel)
            return
        kept = f"{self.dir}/{BACKUP}/{digest}"
        try:
            data = self.transport.get(kept)
        except FileNotFoundError:
            raise ValueError(f"the copy of {rel} kept before the update ({kept}) is gone") from None
        if sha256(data) != digest:
            raise ValueError(f"the copy of {rel} kept before the update ({kept}) was changed since")
        self.transport.run(["sh", "-c", _PUT_BACK, "put-back", kept, f"{self.dir}/{rel}"], timeout=60).check()

    def remove(self, rel: str) -> None:
        self.transport.run(["rm", "-f", "--", f"{self.dir}/{rel}"], timeout=60).check()

    def logs(self, *services: str, tail: int = 10) -> str:
        return self.run("logs", "--no-color", "--tail", str(tail), *services, timeout=60).stdout

    def running_services(self) -> set[str]:
        res = self.run("ps", "--services", "--filter", "status=running", timeout=60)
        return set(res.stdout.split()) if res.ok else set()
