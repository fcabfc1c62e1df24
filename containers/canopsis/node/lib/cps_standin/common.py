"""Paths, zerolog-style JSON logging, small file helpers shared by the stand-in programs."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(os.environ.get("CPS_ROOT") or Path(__file__).resolve().parents[2])
ETC = ROOT / "etc"
STATE = ROOT / "var/lib/canopsis"
LOGS = ROOT / "var/log"
RUN = ROOT / "var/run"
UNITS = ROOT / "lib/systemd/system"          # what the package installed
LOADED = ROOT / "var/lib/systemd/loaded"     # what `systemctl daemon-reload` last read
PACKAGE = STATE / "package.json"
VERSION_DOC = STATE / "version.json"         # Mongo `version` document written last by canopsis-reconfigure
CONFIG_DOC = STATE / "config.json"           # Mongo `configuration` document (from canopsis.toml)
EDITION = STATE / "edition"                  # set by canopsinit --canopsis-edition
DB = STATE / "alarms.db"
VARS = ETC / "go-engines-vars.conf"
#: the node's systemd journal, as ``journalctl -o json`` prints it: one JSON object a line, every value a
#: string, ``__REALTIME_TIMESTAMP`` in microseconds since the epoch (the stand-in's systemd writes it)
JOURNAL = LOGS / "journal.json"
EDITIONS = {"core": "community", "cat": "pro"}


def rfc3339(ts: float | None = None) -> str:
    """zerolog's default time field (Go's ``time.RFC3339``, to the second): ``2026-12-03T05:40:01Z`` in UTC,
    ``2026-12-03T06:40:01+01:00`` elsewhere."""
    stamp = datetime.fromtimestamp(time.time() if ts is None else ts).astimezone().isoformat(timespec="seconds")
    return stamp.removesuffix("+00:00") + "Z" if stamp.endswith("+00:00") else stamp


def log(level: str, message: str, *, file: Path | None = None, **fields: Any) -> None:
    """One zerolog JSON line on stderr (and in ``file``): ``{"level","time",...,"message"}``."""
    rec = {"level": level, "time": rfc3339(), **fields, "message": message}
    line = json.dumps(rec) + "\n"
    sys.stderr.write(line)
    sys.stderr.flush()
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        with file.open("a") as f:
            f.write(line)


def append_line(path: Path, line: str) -> None:
    """One line appended with a single write (O_APPEND): lines of concurrent writers never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode())
    finally:
        os.close(fd)


def journal(message: str, *, identifier: str = "systemd", pid: int = 1, **fields: Any) -> None:
    """An entry of the node's journal (``journalctl -o json``): ``MESSAGE``, ``SYSLOG_IDENTIFIER``, ``_PID``,
    ``__REALTIME_TIMESTAMP`` and ``fields`` (``UNIT``, ``JOB_TYPE``, ``JOB_RESULT`` for systemd's unit jobs)."""
    rec = {"__REALTIME_TIMESTAMP": str(time.time_ns() // 1000), "_PID": str(pid), "SYSLOG_IDENTIFIER": identifier,
           **{k: str(v) for k, v in fields.items()}, "MESSAGE": message}
    append_line(JOURNAL, json.dumps(rec))


def fatal(message: str, err: object = None, *, file: Path | None = None) -> int:
    """zerolog ``Fatal``: logs and the process exits with status 1."""
    log("fatal", message, file=file, **({"error": str(err)} if err is not None else {}))
    return 1


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_vars(path: Path = VARS) -> dict[str, str]:
    """``KEY=VALUE`` lines of go-engines-vars.conf (what `set -o allexport; source` exports)."""
    out: dict[str, str] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, _, v = line.partition("=")
            out[k.strip().removeprefix("export ").strip()] = v.strip().strip('"').strip("'")
    return out


def installed() -> dict[str, Any]:
    return read_json(PACKAGE, {}) or {}


def installed_version() -> str:
    return str(installed().get("version", ""))


def edition() -> str:
    try:
        return EDITION.read_text().strip() or "core"
    except FileNotFoundError:
        return "core"


def vkey(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def started_at(pid: int) -> float:
    """When ``pid`` started (epoch seconds, from /proc); +inf when it is gone."""
    try:
        ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()[19])
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, IndexError, ValueError, StopIteration):
        return float("inf")
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (our own child not yet reaped) counts as dead
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
