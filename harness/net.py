"""Loopback-only networking helpers shared by backends, probes and tests."""

from __future__ import annotations

import os
import random
import socket
import threading
from pathlib import Path

from harness import procs

LOOPBACK = "127.0.0.1"


def _listen_range() -> range:
    """Ports below the kernel's ephemeral range: outgoing connections (a probe opens thousands) never
    take one of these as their source port, so a port found free stays free until our server binds it."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    top = min(low, 32768)
    return range(20000, top) if top > 24000 else range(1024, top)


def _reserve(port: int) -> bool:
    """Claim ``port`` for this process across every process on the machine (parallel pytest sessions,
    xdist workers, the CLI): an ``O_EXCL`` file naming our pid. A claim whose process is gone is taken over.
    Written by hand: no maintained library coordinates port picks between unrelated processes without a
    server of its own (portpicker needs its portserver)."""
    _CLAIMS.mkdir(mode=0o700, exist_ok=True)
    path = _CLAIMS / str(port)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            try:
                owner = int(path.read_text() or "0")
            except (OSError, ValueError):
                return False
            if owner == os.getpid() or procs.alive(owner):
                return False
            path.unlink(missing_ok=True)  # the claimant died: take it over
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


_CLAIMS = Path(os.environ.get("TMPDIR", "/tmp")) / f"upgrade-harness-ports-{os.getuid()}"
_lock = threading.Lock()


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` ports nothing listens on right now, outside the ephemeral range, claimed for this
    process so no other harness process (another xdist worker or pytest session) picks them too.
    Unrelated programs can still take one; servers then report EADDRINUSE clearly.
    """
    pool = _listen_range()
    out: list[int] = []
    with _lock:
        for port in random.sample(pool, len(pool)):
            if len(out) == count:
                break
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind((host, port))
                except OSError:
                    continue
            if _reserve(port):
                out.append(port)
    if len(out) < count:
        raise OSError(f"no {count} free ports left in {pool.start}-{pool.stop - 1} on {host}")
    return out


def free_port(host: str = LOOPBACK) -> int:
    return free_ports(1, host)[0]



