"""Every node's state on this machine (process backend), for tests that a command changed nothing: each file
under the environment's directory with its sha256, mode and mtime, and each process of the environment (its
command line names that directory) with its pid and command line. A node's own log (``*.log``) may grow
while it runs (a logger flushing its boot lines late): it is unchanged if what it held is still its start."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

#: files a reader's SQLite connection makes and removes on its own (the ODB's write-ahead log and index)
TRANSIENT = ("-wal", "-shm", "-journal")


class Log(bytes):
    """A log's content: equal to a later read of it that only appended (the node logging on its own)."""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Log):
            return other.startswith(self) or self.startswith(other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = bytes.__hash__

    def __repr__(self) -> str:
        return f"Log({len(self)} bytes)"


def files(root: Path, *, own: tuple[str, ...] = ()) -> dict[str, Any]:
    """Each file under ``root`` but those under a directory named in ``own``: a store the product's runtime
    writes on its own schedule (RabbitMQ's ``mnesia``: Ra rewrites its quorum queues' ``meta.dets`` as it
    applies its log), which the caller judges by what it holds instead (the queues and their messages)."""
    out: dict[str, Any] = {}
    for p in sorted(root.rglob("*")):
        if own and any(part in own for part in p.relative_to(root).parts[:-1]):
            continue
        if p.is_file() and not p.is_socket() and not p.name.endswith(TRANSIENT):
            try:
                st = p.stat()
                if p.name.endswith(".log"):
                    out[str(p.relative_to(root))] = Log(p.read_bytes())
                    continue
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


def snapshot(root: Path, *, own: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    """Files (but those of ``own`` stores, see :func:`files`) and processes under ``root``, and whatever product
    state the caller adds (ODB rows, versions, a broker's queues)."""
    return {"files": files(root, own=own), "processes": processes(root), **extra}


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
