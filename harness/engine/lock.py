"""A lease per environment, with a TTL and a fencing generation.

What is leased is the environment, identified by its hosts (:func:`environment_key`: every host's
transport and install dir), not by its name: the same machines under another ``environment:`` name are
the same lease. The lease is a small JSON file written under a :class:`filelock.FileLock`, so
check-and-take is atomic between processes; it names one *executor* (host, pid and a nonce of this
process's attempt — a ``harness resume`` of the same run is another executor) and a *generation*, a
counter that grows at every take-over and never goes back.

The holder renews the lease from a background thread every ``ttl / 3``. A holder that died stops
renewing and its lease is taken over once the TTL has passed (at once when it is the same run's dead
predecessor on this machine). A holder that was only paused — SIGSTOP, a stalled VM — may wake up after
another executor took over: :meth:`LeaseLock.check` is called before every transport command, file
transfer and journal line (the runner wraps them, :mod:`harness.engine.fence`), and raises
:class:`~harness.errors.LeaseLost` as soon as the lease names another executor or generation.

Scope: the lease lives on the controller (``HARNESS_STATE_DIR``). It excludes every executor that shares
that directory — one controller machine, or several sharing it over a network file system — not
executors on unrelated machines with directories of their own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from harness import procs
from harness.errors import LeaseLost, LockHeld

if TYPE_CHECKING:
    from harness.plan.models import Inventory

log = logging.getLogger("harness.engine.lock")

#: seconds after a file's mtime within which another write may have left the same mtime (a generous bound
#: on the timer tick that file timestamps are rounded to)
_MTIME_TICK = 0.05


@dataclass(frozen=True)
class Lease:
    environment: str
    holder: str          # the run id
    pid: int
    host: str
    expires: float
    executor: str = ""   # host:pid:nonce of the attempt holding it
    generation: int = 0  # fencing token: grows at every take-over
    run_dir: str = ""    # where `harness status` finds the holder's run


def state_dir() -> Path:
    d = Path(os.environ.get("HARNESS_STATE_DIR") or Path.home() / ".local/state/upgrade-harness")
    d.mkdir(parents=True, exist_ok=True)
    return d


def environment_key(inventory: Inventory) -> str:
    """What identifies an environment: its hosts (how each is reached, where the product is installed)."""
    hosts = sorted((h.transport, h.install_dir) for h in inventory.hosts)
    digest = hashlib.sha256(json.dumps([inventory.product, hosts]).encode()).hexdigest()[:16]
    return digest if hosts else inventory.environment


class LeaseLock:
    def __init__(self, environment: str, holder: str, ttl: float = 30.0, directory: Path | None = None, *,
                 key: str | None = None, run_dir: str = "") -> None:
        self.environment, self.holder, self.ttl, self.run_dir = environment, holder, ttl, run_dir
        d = (directory or state_dir()) / "locks"
        d.mkdir(parents=True, exist_ok=True)
        self.path = d / f"{key or environment}.lease"
        self._counter = self.path.with_suffix(".generation")
        self._guard = FileLock(str(self.path) + ".lock", timeout=10)
        self.executor = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.generation = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: the lease file as :meth:`check` last read it: (its stat key, when read, the lease)
        self._seen: tuple[tuple[int, ...], float, Lease | None] | None = None

    @classmethod
    def for_inventory(cls, inventory: Inventory, holder: str, *, ttl: float = 30.0, run_dir: str = "",
                      directory: Path | None = None) -> LeaseLock:
        """The lease on ``inventory``'s environment, keyed by its hosts (:func:`environment_key`)."""
        return cls(inventory.environment, holder, ttl, directory, key=environment_key(inventory), run_dir=run_dir)

    def current(self) -> Lease | None:
        try:
            return Lease(**json.loads(self.path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError, TypeError):
            return None

    def _write(self) -> None:
        lease = Lease(self.environment, self.holder, os.getpid(), socket.gethostname(), time.time() + self.ttl,
                      self.executor, self.generation, self.run_dir)
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(asdict(lease)))
        tmp.replace(self.path)

    def _next_generation(self, lease: Lease | None) -> int:
        try:
            last = int(self._counter.read_text())
        except (FileNotFoundError, ValueError):
            last = 0
        generation = max(last, lease.generation if lease else 0) + 1
        self._counter.write_text(str(generation))
        return generation

    def acquire(self) -> None:
        with self._guard:
            lease = self.current()
            now = time.time()
            if lease and lease.expires > now and lease.executor != self.executor:
                self._refuse(lease, now)
            if lease and lease.executor != self.executor:
                log.warning("lease on %s: taking over from run %s (pid %s on %s, generation %s)",
                            self.environment, lease.holder, lease.pid, lease.host, lease.generation)
            self.generation = self._next_generation(lease)
            self._write()
        log.info("lease on %s taken by %s as %s, generation %d (ttl %.0fs)", self.environment, self.holder,
                 self.executor, self.generation, self.ttl)
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{self.environment}", daemon=True)
        self._thread.start()

    def _refuse(self, lease: Lease, now: float) -> None:
        """An unexpired lease of another executor: refused, unless it is this run's dead predecessor here."""
        same_run_here = lease.holder == self.holder and lease.host == socket.gethostname()
        try:
            written = self.path.stat().st_mtime  # the holder was running when it last wrote the lease
        except FileNotFoundError:
            written = now
        if same_run_here and not (lease.pid != os.getpid() and procs.holds(lease.pid, written)):
            return  # `harness resume` after a kill: no need to wait for the TTL of a dead executor
        status = f"harness status {lease.run_dir}" if lease.run_dir else f"harness status RUN_DIR of run {lease.holder}"
        if same_run_here:
            raise LockHeld(f"run {lease.holder} is still being executed by pid {lease.pid} on {lease.host}.\n"
                           f"Hint: stop that process first; `harness resume` is for runs whose executor died")
        raise LockHeld(
            f"environment {self.environment!r} is locked by run {lease.holder} (pid {lease.pid} on {lease.host}); "
            f"the lease expires in {lease.expires - now:.0f}s unless renewed.\nHint: wait for that run to finish, "
            f"or check it with `{status}`; a dead holder's lease is taken over after its TTL")

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            with self._guard:
                lease = self.current()
                if lease is None or lease.executor != self.executor or lease.generation != self.generation:
                    log.warning("lease on %s lost by %s: another executor took it over", self.environment,
                                self.executor)
                    return  # taken over (we were considered dead); do not fight
                self._write()

    def held(self) -> bool:
        """True while the lease file still names this executor and generation (nobody took it over)."""
        lease = self.current()
        return lease is not None and lease.executor == self.executor and lease.generation == self.generation

    def _peek(self) -> Lease | None:
        """:meth:`current`, read again only when the file may have changed since the last read.

        The fence runs before every command and journal line (three times a step), and reading and parsing
        the file was half the executor's own time per step. A file with the same device, inode, size and
        mtime as at the last read is unchanged, provided that read came well after that mtime: mtimes
        are as coarse as the kernel's timer tick (4 ms at HZ=250), so a write in the same tick as the
        last one could keep the mtime. Within ``_MTIME_TICK`` of the mtime, the file is read again.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        seen = self._seen
        if seen is not None and seen[0] == key and seen[1] - st.st_mtime_ns / 1e9 > _MTIME_TICK:
            return seen[2]
        now = time.time()
        lease = self.current()
        self._seen = (key, now, lease)  # a file replaced meanwhile has another key: read again next time
        return lease

    def check(self) -> None:
        """The fence: raise :class:`LeaseLost` unless this executor still holds the lease. An expired lease
        that nobody took over is renewed first (the holder was paused; it may go on)."""
        lease = self._peek()
        if lease is not None and lease.executor == self.executor and lease.generation == self.generation:
            if lease.expires > time.time():
                return
            with self._guard:  # expired but still ours: renew under the guard, or find it taken meanwhile
                if self.held():
                    self._write()
                    return
            lease = self.current()
        who = f"run {lease.holder} (pid {lease.pid} on {lease.host}, generation {lease.generation})" if lease \
            else "nobody (the lease file is gone)"
        raise LeaseLost(f"the lease on {self.environment!r} (generation {self.generation}) now belongs to {who}: "
                        f"this executor stops and changes nothing more")

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        with self._guard:
            if self.held():
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> LeaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
