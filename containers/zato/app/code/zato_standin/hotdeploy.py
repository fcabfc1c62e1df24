"""Hot-deploy (reference §1.7): the pickup directory watcher and the package pipeline of one server.

1. A flat ``*.py`` module closed after writing (or moved) into ``pickup/incoming/services`` is noticed
   through inotify (``IN_CLOSE_WRITE|IN_MOVED_TO``, via ctypes: the image has no pyinotify/watchdog and
   stand-ins stay stdlib-only) or, where inotify is unavailable, by snapshot polling every 0.25 s as
   Zato 3.2 does. Other names (archives, directories, dot-files) are ignored silently, like the ``*.py``
   pattern of the real pickup stanza. Changes made while the server is stopped fire no event.
2. The server stores a ``deployment_package`` (≤ 5 MB) and marks every server of the cluster
   ``awaiting-deployment`` (:mod:`zato_standin.odb`).
3. Every server (this one at once, the others through their ODB poller) writes the payload to
   ``work/hot-deploy/current/<name>``, imports it, logs ``Uploaded package id:[N], payload_name:[x.py]``
   and marks itself ``deployed``. A module that does not import is put back to the previous version
   (stand-in choice: real Zato leaves the broken file in ``current/``), logs ``Could not load source, …``
   and ``No services were deployed from module …``, and its status stays ``awaiting-deployment``.
4. At start, a server deploys the packages it missed while down (:meth:`ODB.missed`: awaiting for it,
   deployed by another server, newest per name) and logs ``Found extra services to deploy: …``.
"""

from __future__ import annotations

import ctypes
import os
import select
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from zato_standin import odb as odb_mod
from zato_standin.store import ServiceStore

if TYPE_CHECKING:
    from zato_standin.runtime import Runtime

IN_CLOSE_WRITE, IN_MOVED_TO, IN_ISDIR = 0x8, 0x80, 0x40000000
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000
POLL_PICKUP_SECONDS = 0.25  # FileTransferAPI default_timeout in 3.2
_EVENT = struct.Struct("iIII")


class PayloadError(ValueError):
    """A payload the server refuses to store (too large, not a plain file name)."""


def valid_payload_name(name: str) -> bool:
    return bool(name) and name == os.path.basename(name) and name not in (".", "..") and "\0" not in name


def check_payload(name: str, data: bytes) -> None:
    if not valid_payload_name(name):
        raise PayloadError(f"invalid payload_name `{name}`: a plain file name is required, "
                           f"not a path outside the hot-deploy directory")
    if len(data) > odb_mod.MAX_PAYLOAD:
        raise PayloadError(f"payload `{name}` is {len(data)} bytes, over the limit of {odb_mod.MAX_PAYLOAD} bytes")


class Deployer:
    def __init__(self, rt: Runtime, db: odb_mod.ODB, server_id: int, cluster: str, store: ServiceStore,
                 current_dir: Path) -> None:
        self.rt, self.log, self.db, self.server_id, self.cluster = rt, rt.log, db, server_id, cluster
        self.store, self.current_dir = store, current_dir
        self.tried: set[int] = set()
        self.floor = 0  # packages up to this id existed at start: catch_up() handles them, the poller does not
        self.lock = threading.Lock()
        self.wake = threading.Event()

    # ---- step 1-2: a new payload ----------------------------------------------------------------
    def hot_deploy(self, payload_name: str, data: bytes, details: str = "hot-deploy") -> int:
        check_payload(payload_name, data)
        package_id = self.db.create_package(self.server_id, self.cluster, payload_name, data,
                                            '{"deployment_info": "%s"}' % details)
        self.wake.set()
        return package_id

    def picked_up(self, path: Path) -> None:
        try:
            data = path.read_bytes()
            self.hot_deploy(path.name, data)
        except PayloadError as exc:
            self.log.error("Could not hot-deploy `%s`, e:`%s`", path.name, exc)
        except OSError as exc:
            self.log.error("Could not read `%s`, e:`%s`", path, exc)

    # ---- step 3: deploy a package on this server ------------------------------------------------
    def deploy_package(self, package_id: int) -> bool:
        with self.lock:
            self.tried.add(package_id)
            name, payload = self.db.package(package_id)
            if not valid_payload_name(name) or not name.endswith((".py", ".pyw")):
                self.log.warning("Ignoring package id:`%d`, payload_name:`%s`, not a Python file nor an archive",
                                 package_id, name)
                self.db.set_status(package_id, self.server_id, odb_mod.IGNORED)
                return False
            target = self.current_dir / name
            previous = target.read_bytes() if target.is_file() else None
            _write(target, payload)
            try:
                names = self.store.load_file(target, payload)
            except Exception as exc:  # any error in user code: put the previous version back
                _restore(target, previous)
                self.store.log_failure(name, exc)
                return False
            if not names:
                _restore(target, previous)
                self.log.warning("No services were deployed from module `%s`", name)
                return False
            self.db.replace_deployed(self.server_id, self.store.rows(names), drop=self.store.dropped,
                                     deployed_package=package_id)
            self.log.info("Uploaded package id:[%d], payload_name:[%s]", package_id, name)
            return True

    def catch_up(self) -> None:
        """Deploy what arrived while this server was down (``deploy_missing_services``)."""
        self.floor = self.db.max_package_id()
        missing = self.db.missed(self.server_id)
        if missing:
            names = [self.db.package(p)[0] for p in missing]
            self.log.info("Found extra services to deploy: %s", ", ".join(names))
            for package_id in missing:
                self.deploy_package(package_id)

    def poll_forever(self) -> None:
        while not self.rt.stop_requested.is_set():
            self.wake.wait(odb_mod.POLL_SECONDS)
            self.wake.clear()
            try:
                for package_id in self.db.awaiting(self.server_id):
                    if package_id > self.floor and package_id not in self.tried:
                        self.deploy_package(package_id)
            except Exception as exc:  # the ODB briefly unavailable: try again at the next tick
                self.log.warning("Could not check for new packages, e:`%s`", exc)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)


def _restore(path: Path, previous: bytes | None) -> None:
    if previous is None:
        path.unlink(missing_ok=True)
    else:
        _write(path, previous)


# ---- the pickup directory ---------------------------------------------------------------------


def _picks(name: str) -> bool:
    """The ``*.py`` pattern (case-insensitive) of Zato's hot-deploy pickup stanza."""
    return name.lower().endswith(".py") and not name.startswith(".")


def _inotify() -> tuple[ctypes.CDLL, int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
    except (OSError, AttributeError):
        return None
    return (libc, fd) if fd >= 0 else None


def watch(rt: Runtime, pickup: Path, on_file: Callable[[Path], None]) -> None:
    """Watch ``pickup`` from a thread: inotify where it works, else polling; set up (and logged) before
    this returns when the directory exists, otherwise retried every 5 s from the thread."""
    if not pickup.is_dir():
        threading.Thread(target=_watch_later, args=(rt, pickup, on_file), daemon=True,
                         name="hot-deploy-pickup").start()
        return
    found = _inotify()
    if found is not None:
        libc, fd = found
        if libc.inotify_add_watch(fd, str(pickup).encode(), IN_CLOSE_WRITE | IN_MOVED_TO) >= 0:
            rt.log.info("Watching `%s` for hot-deploy (inotify)", pickup)
            threading.Thread(target=_inotify_loop, args=(rt, fd, pickup, on_file), daemon=True,
                             name="hot-deploy-pickup").start()
            return
        os.close(fd)
    rt.log.info("Watching `%s` for hot-deploy (polling every %ss)", pickup, POLL_PICKUP_SECONDS)
    threading.Thread(target=_poll_loop, args=(rt, pickup, on_file), daemon=True, name="hot-deploy-pickup").start()


def _watch_later(rt: Runtime, pickup: Path, on_file: Callable[[Path], None]) -> None:
    while not pickup.is_dir():
        rt.log.warning("Local file transfer path `%s` does not exist", pickup)
        if rt.sleep(5):
            return
    watch(rt, pickup, on_file)


def _inotify_loop(rt: Runtime, fd: int, pickup: Path, on_file: Callable[[Path], None]) -> None:
    try:
        while not rt.stop_requested.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            buf = os.read(fd, 65536)
            offset = 0
            while offset + _EVENT.size <= len(buf):
                _wd, mask, _cookie, length = _EVENT.unpack_from(buf, offset)
                raw = buf[offset + _EVENT.size: offset + _EVENT.size + length]
                offset += _EVENT.size + length
                name = raw.split(b"\0", 1)[0].decode(errors="replace")
                if not mask & IN_ISDIR and _picks(name) and (pickup / name).is_file():
                    on_file(pickup / name)
    finally:
        os.close(fd)


def _snapshot(pickup: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for p in pickup.iterdir() if pickup.is_dir() else []:
        if _picks(p.name) and p.is_file():
            st = p.stat()
            out[p.name] = (st.st_mtime_ns, st.st_size)
    return out


def _poll_loop(rt: Runtime, pickup: Path, on_file: Callable[[Path], None]) -> None:
    seen = _snapshot(pickup)
    while not rt.sleep(POLL_PICKUP_SECONDS):
        now = _snapshot(pickup)
        for name, stamp in sorted(now.items()):
            if seen.get(name) != stamp:
                on_file(pickup / name)
        seen = now

