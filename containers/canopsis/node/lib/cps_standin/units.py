"""``systemctl`` (the few verbs the runbook uses) and ``canoctl start|stop|restart|status``.

Units are INI files the package installs under ``lib/systemd/system``; ``systemctl daemon-reload``
copies them to ``var/lib/systemd/loaded``, and ``start`` uses the loaded copy (a unit changed on disk
since the last reload gets systemd's warning, and the old definition, as with systemd). A started
unit is a detached process whose output goes to ``var/log/<unit>.log``; its pid is in ``var/run``.
canoctl wraps systemctl and returns its exit code (reference §2.5: canoctl's own output is unknown).

Each job is in the node's journal (``var/log/journal.json``, as ``journalctl -o json`` prints it), as
systemd logs it: ``Starting <Description>...`` then ``Started <Description>.`` (or ``Failed to start``),
``Stopping …``/``Stopped …`` for a unit that was running, with ``UNIT``, ``JOB_TYPE`` (the verb asked:
start, stop, restart) and ``JOB_RESULT``; ``Reloading.`` for ``daemon-reload``. The Description names the
package version of the definition loaded, so the journal shows which version each start ran.
"""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from cps_standin.common import LOADED, LOGS, ROOT, RUN, UNITS, edition, journal, pid_alive, read_vars, started_at

ENGINES = ["engine-fifo", "engine-che", "engine-axe"]
PRO_ENGINES = ["engine-correlation"]
API_UNIT = "canopsis-service@canopsis-api.service"


def engine_unit(name: str) -> str:
    return f"canopsis-engine-go@{name}.service"


def canopsis_units(ed: str | None = None) -> list[str]:
    engines = ENGINES + (PRO_ENGINES if (ed or edition()) == "cat" else [])
    return [engine_unit(e) for e in engines] + [API_UNIT]


def _unit(name: str) -> configparser.ConfigParser | None:
    path = LOADED / name
    if not path.exists():
        return None
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read(path)
    return cp


def _pidfile(name: str) -> Path:
    return RUN / f"{name}.pid"


def _pid(name: str) -> int | None:
    """The unit's main process, or None. systemd follows a unit's processes by cgroup, never by a number
    left in a file: a pid in a stale pidfile that the kernel gave to a later process is not the unit's."""
    try:
        path = _pidfile(name)
        pid, written = int(path.read_text().strip()), path.stat().st_mtime
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) and started_at(pid) <= written + 2 else None


def _description(unit: configparser.ConfigParser, name: str) -> str:
    return unit["Unit"].get("Description", name) if unit.has_section("Unit") else name


def start(name: str, job: str = "start") -> int:
    unit = _unit(name)
    if unit is None:
        print(f"Failed to start {name}: Unit {name} not found.", file=sys.stderr)
        return 5
    if (UNITS / name).exists() and (UNITS / name).read_bytes() != (LOADED / name).read_bytes():
        print(f"Warning: The unit file, source configuration file or drop-ins of {name} changed on disk. "
              "Run 'systemctl daemon-reload' to reload units.", file=sys.stderr)
    if _pid(name):
        return 0
    desc = _description(unit, name)
    journal(f"Starting {desc}...", UNIT=name, JOB_TYPE=job)
    svc = unit["Service"]
    env = dict(os.environ)
    if svc.get("EnvironmentFile"):
        env.update(read_vars(Path(svc["EnvironmentFile"].lstrip("-"))))
    LOGS.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    with (LOGS / f"{name.removesuffix('.service')}.out").open("ab") as out:
        proc = subprocess.Popen(shlex.split(svc["ExecStart"]), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                env=env, cwd=str(ROOT), start_new_session=True)
    _pidfile(name).write_text(f"{proc.pid}\n")
    time.sleep(0.2)
    if proc.poll() is not None:
        journal(f"{name}: Main process exited, code=exited, status={proc.returncode}/FAILURE", UNIT=name)
        journal(f"Failed to start {desc}.", UNIT=name, JOB_TYPE=job, JOB_RESULT="failed")
        print(f"Job for {name} failed because the control process exited with error code "
              f"(status={proc.returncode}).\nSee \"journalctl -xe\" for details.", file=sys.stderr)
        return 1
    journal(f"Started {desc}.", UNIT=name, JOB_TYPE=job, JOB_RESULT="done")
    return 0


def stop(name: str, timeout: float = 20.0, job: str = "stop") -> int:
    pid = _pid(name)
    if pid is None:
        return 0
    unit = _unit(name)
    desc = _description(unit, name) if unit is not None else name
    journal(f"Stopping {desc}...", UNIT=name, JOB_TYPE=job)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        journal(f"{name}: State 'stop-sigterm' timed out. Killing.", UNIT=name)
        os.kill(pid, signal.SIGKILL)
    _pidfile(name).unlink(missing_ok=True)
    journal(f"Stopped {desc}.", UNIT=name, JOB_TYPE=job, JOB_RESULT="done")
    return 0


def is_active(name: str) -> bool:
    return _pid(name) is not None


def daemon_reload() -> int:
    t0 = time.monotonic()
    journal("Reloading.")
    LOADED.mkdir(parents=True, exist_ok=True)
    for old in LOADED.glob("*.service"):
        if not (UNITS / old.name).exists():
            old.unlink()
    for unit in UNITS.glob("*.service"):
        shutil.copyfile(unit, LOADED / unit.name)
    journal(f"Reloading finished in {max(1, round((time.monotonic() - t0) * 1000))} ms.")
    return 0


def systemctl(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("-")]
    if not args:
        print("systemctl: missing verb", file=sys.stderr)
        return 1
    verb, names = args[0], [n if n.endswith(".service") else n + ".service" for n in args[1:]]
    if verb == "daemon-reload":
        return daemon_reload()
    if verb in ("start", "stop", "restart") and not names:
        print("Too few arguments.", file=sys.stderr)
        return 1
    rc = 0
    for n in names:
        if verb == "start":
            rc = rc or start(n)
        elif verb == "stop":
            rc = rc or stop(n)
        elif verb == "restart":
            stop(n, job="restart")
            rc = rc or start(n, job="restart")
        elif verb == "is-active":
            active = is_active(n)
            print("active" if active else "inactive")
            rc = rc or (0 if active else 3)
        else:
            print(f"Unknown command verb {verb}.", file=sys.stderr)
            return 1
    return rc


def canoctl(argv: list[str]) -> int:
    verbs = ("start", "stop", "restart", "status")
    if len(argv) != 1 or argv[0] not in verbs:
        print(f"usage: canoctl {{{'|'.join(verbs)}}}", file=sys.stderr)
        return 1
    verb, units = argv[0], canopsis_units()
    if verb == "status":
        rc = 0
        for u in units:
            active = is_active(u)
            print(f"{u:50} {'active (running)' if active else 'inactive (dead)'}")
            rc = rc or (0 if active else 3)
        return rc
    if verb in ("stop", "restart"):
        # the API first (no new event accepted), then the engines upstream first (each drains its batch);
        # every known unit, so engines of the other edition stop too
        every = [API_UNIT] + [engine_unit(e) for e in ENGINES + PRO_ENGINES]
        for u in every:
            stop(u)
    if verb in ("start", "restart"):
        for u in units:
            rc = start(u)
            if rc:
                return rc
    return 0
