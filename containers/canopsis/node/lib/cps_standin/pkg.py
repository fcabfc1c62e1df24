"""``yum``/``dnf`` over the Canopsis package repository, ``canopsinit``, and ``canopsis-migrate``.

The repository is a directory with one folder per version (``<version>/release-note.{md,toml}``,
``<version>/migrations/``); ``etc/yum.repos.d/*.repo`` points at it with ``baseurl=file://``. As with a
real Canopsis repo (one per major line), ``update`` without a package spec goes to the latest version of
the installed line; ``update canopsis-VERSION`` and ``downgrade canopsis-VERSION`` pick one.

What the node keeps of it, as yum and dnf do: each transaction in the package database's history
(``package.json`` ``history``: action, from, to, begin and end time, the command line, the tool, the return
code — what ``yum history info`` shows), every dnf command line in ``var/log/dnf.log`` (``DDEBUG Command:``)
and every yum package change in ``var/log/yum.log`` (``Updated: canopsis-…``). ``canopsinit`` logs to
``var/log/migrationtool.log`` (its MigrationTool's log; one JSON object a line here, with the epoch time,
what it printed, the arguments and the package version it found installed; its exit code last).
"""

from __future__ import annotations

import argparse
import configparser
import fnmatch
import json
import re
import sys
import time
from datetime import datetime
from pathlib import Path

from cps_standin.common import (
    EDITION,
    ETC,
    LOGS,
    PACKAGE,
    ROOT,
    STATE,
    UNITS,
    append_line,
    edition,
    installed,
    read_json,
    vkey,
    write_json,
)

PKG = "canopsis"
ARCH = "x86_64"


def line_of(v: str) -> str:
    major = vkey(v)[0]
    return "YY.MM" if major >= 22 else str(major)


def rel(v: str) -> str:
    return f"{v}-1.{'el8' if line_of(v) == 'YY.MM' else 'el7'}"


def write_units(version: str) -> None:
    """The package's systemd units (the Pro engine-axe feeds engine-correlation)."""
    UNITS.mkdir(parents=True, exist_ok=True)
    vars_file = ETC / "go-engines-vars.conf"
    chain = {"engine-fifo": "Engine_che", "engine-che": "Engine_axe",
             "engine-axe": "Engine_correlation" if edition() == "cat" else None, "engine-correlation": None}
    for eng, pub in chain.items():
        args = f" -publishQueue {pub}" if pub else ""
        (UNITS / f"canopsis-engine-go@{eng}.service").write_text(
            f"[Unit]\nDescription=Canopsis Go engine {eng} ({version})\n\n[Service]\n"
            f"EnvironmentFile={vars_file}\nExecStart={ROOT}/bin/{eng}{args}\n")
    (UNITS / "canopsis-service@canopsis-api.service").write_text(
        f"[Unit]\nDescription=Canopsis API ({version})\n\n[Service]\nEnvironmentFile={vars_file}\n"
        f"ExecStart={ROOT}/bin/canopsis-api\n")


def install(version: str, *, action: str, cmdline: str = "", tool: str = "", begin: float | None = None) -> None:
    prev = installed().get("version")
    history = installed().get("history", [])
    write_units(version)
    history.append({"action": action, "from": prev, "to": version, "begin": begin or time.time(), "time": time.time(),
                    "cmdline": cmdline, "tool": tool, "return_code": 0})
    write_json(PACKAGE, {"name": PKG, "version": version, "history": history})
    if tool == "yum":  # /var/log/yum.log: "Dec 03 12:00:01 Updated: canopsis-4.6.1-1.el7.x86_64"
        word = {"install": "Installed", "downgrade": "Installed"}.get(action, "Updated")
        stamp = datetime.now().strftime("%b %d %H:%M:%S")
        append_line(LOGS / "yum.log", f"{stamp} {word}: {PKG}-{rel(version)}.{ARCH}")


def _repos(disable: list[str], enable: list[str]) -> dict[str, Path]:
    cp = configparser.ConfigParser(interpolation=None)
    for f in sorted((ETC / "yum.repos.d").glob("*.repo")):
        cp.read(f)
    state = {s: cp[s].get("enabled", "1") == "1" for s in cp.sections()}
    for pat in disable:
        state.update({s: False for s in state if fnmatch.fnmatch(s, pat)})
    for pat in enable:
        state.update({s: True for s in state if fnmatch.fnmatch(s, pat)})
    return {s: Path(cp[s]["baseurl"].removeprefix("file://")) for s, on in state.items() if on}


def _available(repos: dict[str, Path]) -> list[str] | str:
    versions: list[str] = []
    for name, base in repos.items():
        if not base.is_dir():
            return f"Cannot retrieve repository metadata (repomd.xml) for repository: {name}. " \
                   "Please verify its path and try again"
        versions += [d.name for d in base.iterdir() if d.is_dir() and re.fullmatch(r"\d+\.\d+\.\d+", d.name)]
    return sorted(set(versions), key=vkey)


def yum(argv: list[str], prog: str = "yum") -> int:
    disable = [a.split("=", 1)[1].strip('"') for a in argv if a.startswith("--disablerepo=")]
    enable = [a.split("=", 1)[1].strip('"') for a in argv if a.startswith("--enablerepo=")]
    words = [a for a in argv if not a.startswith("-")]
    if not words:
        print(f"usage: {prog} [options] COMMAND", file=sys.stderr)
        return 1
    cmd, specs = words[0], words[1:]
    begin, cmdline = time.time(), " ".join(argv)
    if prog == "dnf":  # /var/log/dnf.log logs every command line
        stamp = datetime.now().astimezone().strftime("%Y-%m-%dT%H:%M:%S%z")
        append_line(LOGS / "dnf.log", f"{stamp} DDEBUG Command: dnf {cmdline}")
    repos = _repos(disable, enable)
    cur = installed().get("version")
    if cmd == "list" and specs[:1] == ["installed"]:
        print("Installed Packages")
        if cur:
            print(f"{PKG}.{ARCH}    {rel(cur)}    @canopsis")
        return 0 if cur else 1
    if not repos:
        print("There are no enabled repos.\n Run \"yum repolist all\" to see the repos you have.", file=sys.stderr)
        return 1
    avail = _available(repos)
    if isinstance(avail, str):
        print(avail, file=sys.stderr)
        return 1
    if cmd == "makecache":
        print("Metadata Cache Created")
        return 0
    if cmd == "install":
        want = next((m.group(1) for s in specs if (m := re.fullmatch(rf"{PKG}-(\d+\.\d+\.\d+)", s))), None)
        if cur:
            print(f"Package {PKG}-{rel(cur)}.{ARCH} already installed and latest version\nNothing to do")
            return 0
        if want not in avail:
            print(f"No package {' '.join(specs)} available.\nError: Nothing to do", file=sys.stderr)
            return 1
        install(want, action="install", cmdline=cmdline, tool=prog, begin=begin)
        print(f"\nInstalled:\n  {PKG}.{ARCH} 0:{rel(want)}\n\nComplete!")
        return 0
    if cmd not in ("update", "upgrade", "downgrade"):
        print(f"No such command: {cmd}. Please use /usr/bin/{prog} --help", file=sys.stderr)
        return 1
    want = None
    for s in specs:
        m = re.fullmatch(rf"{PKG}(?:-(\d+\.\d+\.\d+)(?:-[\w.]+)?)?", s)
        if not m:
            print(f"No package {s} available.\nError: Nothing to do", file=sys.stderr)
            return 1
        want = m.group(1) or want
    if cmd == "downgrade":
        if not want or want not in avail or not cur or vkey(want) >= vkey(cur):
            print(f"Package {PKG}{'-' + want if want else ''} of lower version not available.\n"
                  "Error: Nothing to do", file=sys.stderr)
            return 1
    elif want is None:
        same = [v for v in avail if cur and line_of(v) == line_of(cur)]
        want = same[-1] if same else cur
    elif want not in avail:
        print(f"No package {PKG}-{want} available.\nError: Nothing to do", file=sys.stderr)
        return 1
    if not cur or want == cur or (cmd != "downgrade" and vkey(want) < vkey(cur)):
        print("No packages marked for update")
        return 0
    print(f"Resolving Dependencies\n--> Running transaction check\n---> Package {PKG}.{ARCH} 0:{rel(cur)} will be "
          f"{'downgraded' if cmd == 'downgrade' else 'updated'}\n---> Package {PKG}.{ARCH} 0:{rel(want)} will be an "
          f"{'downgrade' if cmd == 'downgrade' else 'update'}")
    install(want, action=cmd, cmdline=cmdline, tool=prog, begin=begin)
    print(f"\n{'Installed' if cmd == 'downgrade' else 'Updated'}:\n  {PKG}.{ARCH} 0:{rel(want)}\n\nComplete!")
    return 0


def canopsinit(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="canopsinit")
    p.add_argument("--canopsis-edition", choices=["core", "cat"], default="core")
    p.add_argument("--canopsis-stack", choices=["python", "go"], default="go")
    p.add_argument("--canopsis-version")
    p.add_argument("--authorize-reinit", action="store_true")
    args = p.parse_args(argv)
    flag = STATE / "mongo/initialized"

    def say(message: str, **fields: object) -> None:
        append_line(LOGS / "migrationtool.log", json.dumps({"time": time.time(), "levelname": "INFO",
                                                            "name": "migrationtool", **fields, "message": message}))

    if flag.exists():
        message = "Database already intialized. Updating..."
    else:
        message = "Database not intialized. Initializing..."
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.write_text("1\n")
    print(message)
    say(message, args=argv, installed=installed().get("version"), edition=args.canopsis_edition)
    changed = edition() != args.canopsis_edition or not EDITION.exists()
    EDITION.parent.mkdir(parents=True, exist_ok=True)
    EDITION.write_text(args.canopsis_edition + "\n")
    if changed and installed().get("version"):
        write_units(installed()["version"])  # Pro and Community ship different engine chains
    say("canopsinit finished", exit_code=0)
    return 0


def migrate(argv: list[str]) -> int:
    """``canopsis-migrate SCRIPT``: apply one release-note migration to the database, once."""
    if len(argv) != 1:
        print("usage: canopsis-migrate SCRIPT.json", file=sys.stderr)
        return 2
    path = Path(argv[0])
    try:
        script = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"canopsis-migrate: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    done = STATE / "mongo/migrations.json"
    applied = read_json(done, []) or []
    mid = script.get("id") or path.stem
    if mid in applied:
        print(f"migration {mid}: already applied")
        return 0
    if script.get("fail"):
        print(f"migration {mid} failed: {script['fail']}", file=sys.stderr)
        return 1
    coll = STATE / "mongo" / f"{script.get('collection', 'default')}.json"
    write_json(coll, {**(read_json(coll, {}) or {}), **script.get("set", {})})
    write_json(done, applied + [mid])
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / "migrations.log").open("a") as f:
        f.write(json.dumps({"time": time.time(), "migration": mid}) + "\n")
    print(f"migration {mid}: applied")
    return 0
