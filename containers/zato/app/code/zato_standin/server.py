"""Zato server stand-in: the boot sequence of reference §1.5, ``GET /zato/ping``, user services.

The port is bound only at the end of the boot, so ``/zato/ping`` answers exactly when the node logs
``Started `server1@dev` (pid: P)``. Boot time is simulated with ``boot_seconds`` from server.conf.

User services (reference §1.6-1.8): ``service-sources.txt`` and ``zato_extra_paths`` are read at start
only; hot-deploy goes through the pickup directory or ``POST /zato/json/zato.service.upload-package``
(what web-admin calls) and the cluster's ODB (:mod:`zato_standin.hotdeploy`). Services answer on
``/zato/api/invoke/<service-name>`` (GET or POST, JSON in and out), the invoker channel of Zato 3.2;
the stand-in requires no credentials there.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
import logging
import os
import secrets
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from zato_standin import __version__, component, hotdeploy, httpbase, internal, odb
from zato_standin.store import BadRequest, ServiceNotFound, ServiceStore

if TYPE_CHECKING:
    from zato_standin.runtime import Runtime

# Modules imported on the first worker while the server boots (the real server imports its internal
# service modules here).
BOOT_MODULES = ("zato_standin.internal",)

INVOKE_PREFIX = "/zato/api/invoke/"
UPLOAD_PATH = "/zato/json/zato.service.upload-package"


class PingHandler(httpbase.QuietHandler):
    def _headers(self) -> dict[str, str]:
        # as a real Zato server: a correlation id in every answer, and nothing that names the server (who
        # served a request is for the load balancer's request log to say)
        return {"X-Zato-CID": secrets.token_hex(12)}

    def _json(self, status: int, body: Any, headers: dict[str, str]) -> None:
        self.reply(status, json.dumps(body, separators=(",", ":")).encode(), "application/json", headers)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        thread = threading.current_thread()
        thread.name = thread.name.split(" ")[0]  # "Thread-7 (process_request_thread)": no spaces in log lines
        path = self.path.split("?")[0]
        headers = self._headers()
        if path == "/zato/ping":
            body = {"pong": "zato", "zato_env": {"result": "ZATO_OK", "cid": headers["X-Zato-CID"], "details": ""}}
            self._json(200, body, headers)
        elif path.startswith(INVOKE_PREFIX) and self.command in ("GET", "POST"):
            self._invoke(unquote(path[len(INVOKE_PREFIX):]), headers)
        elif path == UPLOAD_PATH and self.command == "POST":
            self._upload(headers)
        else:
            self.reply(404, b"", headers=headers)

    do_HEAD = do_GET
    do_POST = do_GET

    def _invoke(self, name: str, headers: dict[str, str]) -> None:
        store: ServiceStore | None = getattr(self.server, "zato_store", None)
        raw = self._body().decode(errors="replace")
        try:
            payload: Any = json.loads(raw) if raw.strip() else {}
        except ValueError:
            payload = raw
        if store is None:
            self.reply(404, b"", headers=headers)
            return
        try:
            resp = store.invoke(name, payload, raw)
        except ServiceNotFound:
            self._json(404, {"error": f"Service `{name}` not found"}, headers)
            return
        except BadRequest as exc:
            self._json(400, {"cid": headers["X-Zato-CID"], "error": str(exc)}, headers)
            return
        except Exception as exc:  # an error in user code: 500, the traceback goes to server.log
            logging.getLogger("zato.server.service").error("Error in service `%s`, cid:`%s`, e:`%s`", name,
                                                            headers["X-Zato-CID"], traceback.format_exc().rstrip())
            self._json(500, {"cid": headers["X-Zato-CID"], "error": f"{type(exc).__name__}: {exc}"}, headers)
            return
        body = resp.payload
        data = body.encode() if isinstance(body, str) else json.dumps(body, separators=(",", ":")).encode()
        self.reply(resp.status_code, data, resp.content_type, {**headers, **resp.headers})

    def _upload(self, headers: dict[str, str]) -> None:
        """``zato.service.upload-package``: {cluster_id, payload (base64), payload_name} → {package_id}."""
        deployer: hotdeploy.Deployer | None = getattr(self.server, "zato_deployer", None)
        try:
            req = json.loads(self._body() or b"{}")
            name, data = str(req["payload_name"]), base64.b64decode(req["payload"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            self._json(400, {"error": f"expected JSON with payload_name and a base64 payload: {exc}"}, headers)
            return
        if deployer is None:
            self._json(500, {"error": "this server has no ODB configured ([odb] in server.conf)"}, headers)
            return
        try:
            hotdeploy.check_payload(name, data)
            # the server writes a temporary file `zato-hd-…<payload_name>` and hot-deploys it (§1.8)
            with tempfile.NamedTemporaryFile(prefix="zato-hd-", suffix=name) as tmp:
                tmp.write(data)
                tmp.flush()
                package_id = deployer.hot_deploy(name, Path(tmp.name).read_bytes(), details="service-upload")
        except hotdeploy.PayloadError as exc:
            self._json(400, {"error": str(exc)}, headers)
            return
        self._json(200, {"package_id": package_id}, headers)


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


def _conf_path(comp: component.Component, section: str, key: str, default: str) -> Path:
    """A path from server.conf, relative ones against ``config/repo`` as Zato resolves them."""
    value = comp.config.get(section, key, fallback=default)
    return Path(os.path.normpath(comp.path / "config" / "repo" / value))


def _extra_paths(log: logging.Logger) -> None:
    """``zato_extra_paths`` of the installation on the Python path (read at start only)."""
    checkout = os.environ.get("ZATO_CHECKOUT")
    if checkout and os.path.isdir(os.path.join(checkout, "zato_extra_paths")):
        extra = os.path.join(checkout, "zato_extra_paths")
        if extra not in sys.path:
            sys.path.append(extra)
        log.info("Added `%s` to the Python path (zato_extra_paths)", extra)


def _user_services(rt: Runtime) -> tuple[ServiceStore, hotdeploy.Deployer | None]:
    comp, log = rt.comp, rt.log
    root = logging.getLogger()  # services' own loggers write to server.log too
    root.handlers[:] = list(log.handlers)
    root.setLevel(logging.INFO)
    _extra_paths(log)
    store = ServiceStore(log, comp.name)
    sources = Path(os.path.normpath(comp.path / "config" / "repo" /
                                    comp.config.get("main", "service_sources", fallback="./service-sources.txt")))
    log.info("Deploying user-defined services (%s)", comp.name)
    count = store.load_sources(comp.path, sources) if sources.is_file() else 0
    if rt.deploy_auto_from:  # add_pickup_conf_from_auto_deploy: DIR/code is one more service source
        code = os.path.join(rt.deploy_auto_from, "code")
        log.info("Processing hot-deployment configuration paths `%r` (source -> AutoDeploy)", code)
        count += store.load_dir(Path(code)) if os.path.isdir(code) else 0
    log.info("Deployed %d user-defined service(s) (%s)", count, comp.name)
    db_name = comp.config.get("odb", "db_name", fallback="")
    if comp.config.get("odb", "engine", fallback="") != "sqlite" or not db_name:
        return store, None
    db = odb.ODB(db_name)
    cluster = comp.config.get("stand_in", "cluster")
    server_id = db.register_server(comp.name, cluster)
    work = _conf_path(comp, "hot_deploy", "work_dir", "../../work")
    current = Path(os.path.normpath(work / comp.config.get("hot_deploy", "current_work_dir",
                                                           fallback="./hot-deploy/current")))
    deployer = hotdeploy.Deployer(rt, db, server_id, cluster, store, current)
    db.replace_deployed(server_id, store.rows(), drop_all=True)
    deployer.catch_up()
    db.set_up_status(server_id, "running")
    rt.on_stop.append(lambda: (db.set_up_status(server_id, "clean-down"), db.close()))
    threading.Thread(target=deployer.poll_forever, daemon=True, name="hot-deploy-odb").start()
    hotdeploy.watch(rt, _conf_path(comp, "hot_deploy", "pickup_dir", "../../pickup/incoming/services"),
                    deployer.picked_up)
    return store, deployer


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
    rt.sleep(boot_seconds / 4)
    store, deployer = _user_services(rt)
    log.info("First worker of `%s` is %d", name, rt.pid)
    if rt.sleep(boot_seconds / 4):
        return []
    try:
        httpd = httpbase.GracefulHTTPServer((host, port), PingHandler)
    except OSError as exc:
        log.error("Could not bind to %s:%d, e:`%s` (pid: %d)", host, port, exc, rt.pid)
        return None
    httpd.zato_name = name  # type: ignore[attr-defined]
    httpd.zato_store = store  # type: ignore[attr-defined]
    httpd.zato_deployer = deployer  # type: ignore[attr-defined]
    httpbase.serve(httpd)
    _enmasse_auto_from(rt)
    return [httpd]


def _enmasse_auto_from(rt: Runtime) -> None:
    """``handle_enmasse_auto_from``: after the start, a real server runs ``enmasse --import`` on each file of
    ``DIR/enmasse``. The stand-in has no enmasse: each such file is named in an error line, not imported."""
    path = Path(rt.deploy_auto_from, "enmasse") if rt.deploy_auto_from else None
    if path is None or not path.is_dir():
        return
    for f in sorted(path.iterdir()):
        rt.log.error("Not imported: `%s` (the stand-in has no enmasse; a real server imports it after the start)", f)
