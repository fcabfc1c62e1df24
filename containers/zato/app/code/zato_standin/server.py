"""Zato server stand-in: the boot sequence of reference §1.5 and ``GET /zato/ping``.

The port is bound only at the end of the boot, so ``/zato/ping`` answers exactly when the node logs
``Started `server1@dev` (pid: P)``. Boot time is simulated with ``boot_seconds`` from server.conf.
"""

from __future__ import annotations

import importlib
import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from zato_standin import __version__, component, httpbase, internal

if TYPE_CHECKING:
    from zato_standin.runner import Runtime

# Modules imported on the first worker while the server boots (the real server imports its internal
# service modules here).
BOOT_MODULES = ("zato_standin.internal",)


class PingHandler(httpbase.QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = self.path.split("?")[0]
        name = self.server.zato_name  # type: ignore[attr-defined]
        cid = secrets.token_hex(12)
        headers = {"X-Zato-Server": name, "X-Zato-CID": cid}
        if path != "/zato/ping":
            self.reply(404, b"", headers=headers)
            return
        body = {"pong": "zato", "zato_env": {"result": "ZATO_OK", "cid": cid, "details": ""}}
        self.reply(200, json.dumps(body, separators=(",", ":")).encode(), "application/json", headers)

    do_HEAD = do_GET
    do_POST = do_GET


def user_service_count(server_dir: Path) -> int:
    """Python modules found through service-sources.txt (directories: flat *.py, not recursive)."""
    sources = server_dir / "config" / "repo" / "service-sources.txt"
    count = 0
    try:
        lines = sources.read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        entry = Path(line) if Path(line).is_absolute() else (server_dir / line)
        if entry.is_dir():
            count += len([p for p in entry.iterdir() if p.suffix in (".py", ".pyw")])
        elif entry.suffix in (".py", ".pyw"):
            count += int(entry.is_file())
        else:
            count += 1
    return count


def _deploy_internal(rt: Runtime, boot: float) -> None:
    log, name, path = rt.log, rt.comp.name, rt.comp.path
    cache = internal.cache_path(path)
    sync = rt.sync_internal
    if cache.exists() and cache.stat().st_size == 0:
        log.info("Deleting empty `%s` file", cache)
        cache.unlink()
    if not cache.exists():
        sync = True
    for module in BOOT_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            log.error("Could not import module `%s` (internal:0)", module)
            raise
    if sync:
        log.info("Deploying and caching internal services (%s)", name)
        rt.sleep(boot)  # syncing is the slow path
        count, size = internal.write_cache(path, __version__)
        log.info("Deployed and cached %d internal services (%s) (%s)", count, internal.human_size(size), name)
    else:
        log.info("Deploying cached internal services (%s)", name)
        rt.sleep(boot / 2)
        count = internal.read_cache(path) or 0
        log.info("Deployed %d cached internal services (%s)", count, name)


def boot(rt: Runtime) -> list[httpbase.GracefulHTTPServer] | None:
    comp, log = rt.comp, rt.log
    name, cluster = comp.name, comp.config.get("stand_in", "cluster")
    host, port = comp.host, comp.port
    boot_seconds = comp.config.getfloat("stand_in", "boot_seconds", fallback=0.3)
    log.info("Preferred address of `%s@%s` (pid: %d) is `http://%s:%d`",
             name, cluster, rt.pid, component.connect_host(host), port)
    _deploy_internal(rt, boot_seconds)
    if rt.stop_requested.is_set():
        return []
    log.info("Deploying user-defined services (%s)", name)
    rt.sleep(boot_seconds / 4)
    log.info("Deployed %d user-defined service(s) (%s)", user_service_count(comp.path), name)
    log.info("First worker of `%s` is %d", name, rt.pid)
    if rt.sleep(boot_seconds / 4):
        return []
    try:
        httpd = httpbase.GracefulHTTPServer((host, port), PingHandler)
    except OSError as exc:
        log.error("Could not bind to %s:%d, e:`%s` (pid: %d)", host, port, exc, rt.pid)
        return None
    httpd.zato_name = name  # type: ignore[attr-defined]
    httpbase.serve(httpd)
    return [httpd]
