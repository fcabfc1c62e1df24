"""A lease lock per environment, with a TTL.

The lease is a small JSON file (holder, pid, host, expiry) written under a :class:`filelock.FileLock`
so check-and-take is atomic between processes. The holder renews it from a background thread every
``ttl / 3``; a holder that died stops renewing, and its lease is taken over once the TTL has passed.

Provisional: the lease lives on the machine running the executor (``HARNESS_STATE_DIR``), so it
excludes executors that share that machine or directory, not executors on other machines.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock

from harness.errors import LockHeld

log = logging.getLogger("harness.engine.lock")


@dataclass(frozen=True)
class Lease:
    environment: str
    holder: str
    pid: int
    host: str
    expires: float


def state_dir() -> Path:
    d = Path(os.environ.get("HARNESS_STATE_DIR") or Path.home() / ".local/state/upgrade-harness")
    d.mkdir(parents=True, exist_ok=True)
    return d


class LeaseLock:
    def __init__(self, environment: str, holder: str, ttl: float = 30.0, directory: Path | None = None) -> None:
        self.environment, self.holder, self.ttl = environment, holder, ttl
        d = (directory or state_dir()) / "locks"
        d.mkdir(parents=True, exist_ok=True)
        self.path = d / f"{environment}.lease"
        self._guard = FileLock(str(self.path) + ".lock", timeout=10)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def current(self) -> Lease | None:
        try:
            return Lease(**json.loads(self.path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None

    def _write(self) -> None:
        lease = Lease(self.environment, self.holder, os.getpid(), socket.gethostname(), time.time() + self.ttl)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(lease)))
        tmp.replace(self.path)

    def acquire(self) -> None:
        with self._guard:
            lease = self.current()
            now = time.time()
            if lease and lease.holder == self.holder and lease.expires > now and _held_by_other_live_process(lease):
                raise LockHeld(
                    f"run {lease.holder} is still being executed by pid {lease.pid} on {lease.host}.\n"
                    f"Hint: stop that process first; `harness resume` is for runs whose executor died.")
            if lease and lease.holder != self.holder and lease.expires > now:
                raise LockHeld(
                    f"environment {self.environment!r} is locked by run {lease.holder} "
                    f"(pid {lease.pid} on {lease.host}); the lease expires in {lease.expires - now:.0f}s "
                    f"unless renewed.\nHint: wait for that run to finish, or check it with "
                    f"`harness status {lease.holder}`; a dead holder's lease is taken over after its TTL.")
            if lease and lease.holder != self.holder:
                log.warning("lease on %s: taking over from run %s (pid %s on %s), expired %.0fs ago",
                            self.environment, lease.holder, lease.pid, lease.host, now - lease.expires)
            self._write()
        log.info("lease on %s taken by %s (ttl %.0fs)", self.environment, self.holder, self.ttl)
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{self.environment}", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            with self._guard:
                lease = self.current()
                if lease is None or lease.holder != self.holder:
                    log.warning("lease on %s lost by %s: another executor took it over", self.environment,
                                self.holder)
                    return  # taken over (we were considered dead); do not fight
                self._write()

    def held(self) -> bool:
        """True while the lease file still names this holder (nobody took it over)."""
        lease = self.current()
        return lease is not None and lease.holder == self.holder

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        with self._guard:
            lease = self.current()
            if lease and lease.holder == self.holder:
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> LeaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _held_by_other_live_process(lease: Lease) -> bool:
    if lease.pid == os.getpid() or lease.host != socket.gethostname():
        return False
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
