"""Every node's state on this machine (process backend), for tests that a command changed nothing: each file
under the environment's directory with its sha256, mode and mtime, and each process of the environment (its
command line names that directory) with its pid and command line."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

#: files a reader's SQLite connection makes and removes on its own (the ODB's write-ahead log and index)
TRANSIENT = ("-wal", "-shm", "-journal")


def files(root: Path) -> dict[str, tuple[str, int, int]]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_socket() and not p.name.endswith(TRANSIENT):
            try:
                st = p.stat()
                out[str(p.relative_to(root))] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mode,
                                                 st.st_mtime_ns)
            except FileNotFoundError:  # gone between the listing and the read: a transient file
                continue
    return out


def processes(root: Path) -> dict[int, str]:
    """pid -> command line of every process whose command line names ``root`` (the product's processes: the
    stand-ins, HAProxy, RabbitMQ, BEAM nodes all run from files under it)."""
    out = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if str(root) in cmd:
            out[int(d.name)] = cmd
    return out


def snapshot(root: Path, **extra: Any) -> dict[str, Any]:
    """Files and processes under ``root``, and whatever product state the caller adds (ODB rows, versions)."""
    return {"files": files(root), "processes": processes(root), **extra}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed, key by key (files and processes item by item): {} when nothing did."""
    out: dict[str, Any] = {}
    for k in before.keys() | after.keys():
        a, b = before.get(k), after.get(k)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out[k] = {i: (a.get(i), b.get(i)) for i in a.keys() | b.keys() if a.get(i) != b.get(i)}
        else:
            out[k] = (a, b)
    return out
