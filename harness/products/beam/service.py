"""The master domain's patch service (Settings → System/Patch) of the BEAM stand-in.

A small HTTP service on 127.0.0.1 in front of the master node's patch agent; the agent fans each
check/apply out to every node of the domain over Erlang distribution (``erpc:multicall``).
Python rather than Erlang because Debian's erlang-base ships no ``inets`` (no httpd) and OTP's
``zip`` inflates entries whole in memory (no bound on a lying bomb). Stdlib only.

Endpoints (JSON; ``Authorization: Bearer TOKEN`` from ``POST /api/login``)::

    POST   /api/login            {"user","password"} -> {"token","role"}          401
    GET    /api/system           version and nodes
    GET    /api/nodes            per node: reachable, version, apps, reboot_required, applied, agent
    POST   /api/patch?name=N     body: the zip (<= 10 MB) -> its unpacked composition  admin
    GET    /api/patch            the stored archive's composition                     404
    POST   /api/patch/check      per node results and the integral status             admin
    POST   /api/patch/apply      idem, after loading                                  admin
    DELETE /api/patch            delete the stored archive                            admin

Refusals: 401 not logged in, 403 not admin, 404 no archive, 409 wrong system version,
411 no Content-Length, 413 larger than 10 MB, 422 hostile or malformed archive.
Run: ``python -m harness.products.beam.service --agent-file F --store DIR --users FILE [--pid-file P]``
with this package's files on ``PYTHONPATH`` (the stand-in ships exactly those onto the master host:
:mod:`harness.products.beam.standin.patch_service`).
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import secrets
import shutil
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from harness.errors import TransportError
from harness.products.beam.agent import AgentClient
from harness.products.beam.archive import MAX_ARCHIVE_BYTES, ArchiveRefused, PatchArchive, inspect_archive
from harness.products.beam.etf import Atom
from harness.products.beam.status import Status, integral_status

_DISCARD_LIMIT = 64 * 1024 * 1024


class _Refusal(Exception):
    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(detail or error)
        self.status, self.error, self.detail = status, error, detail


class PatchService:
    """State and logic, independent of HTTP (one archive slot, like the screen)."""

    def __init__(self, agent_file: Path, store: Path, users: dict[str, dict[str, str]]) -> None:
        self.agent_file, self.store, self.users = agent_file, store, users
        self.sessions: dict[str, tuple[str, str]] = {}
        self.lock = threading.Lock()
        store.mkdir(parents=True, exist_ok=True)

    # -- auth ---------------------------------------------------------------------------------
    def login(self, user: str, password: str) -> dict[str, str]:
        entry = self.users.get(user)
        if entry is None or not hmac.compare_digest(entry["password"].encode(), password.encode()):
            raise _Refusal(401, "bad_credentials", "unknown user or wrong password")
        token = secrets.token_urlsafe(24)
        self.sessions[token] = (user, entry["role"])
        return {"token": token, "user": user, "role": entry["role"]}

    def whoami(self, token: str | None, *, admin: bool) -> tuple[str, str]:
        who = self.sessions.get(token or "")
        if who is None:
            raise _Refusal(401, "not_logged_in", "log in first (POST /api/login)")
        if admin and who[1] != "admin":
            raise _Refusal(403, "forbidden", f"user {who[0]} has role {who[1]}; only admin may change patches")
        return who

    # -- domain -------------------------------------------------------------------------------
    def agent(self) -> AgentClient:
        port, _node = self.agent_file.read_text().split()
        return AgentClient("127.0.0.1", int(port), timeout=60.0)

    def version(self) -> str:
        with self.agent() as a:
            return str(a.info()["version"])

    def nodes(self) -> list[dict[str, Any]]:
        with self.agent() as a:
            replies = a.domain(Atom("info"))
        return [{"node": r["node"], "reachable": r["reachable"], **(r.get("result") or {}),
                 **({"error": r["error"]} if "error" in r else {})} for r in replies]

    # -- archive slot -------------------------------------------------------------------------
    def upload(self, data: bytes, name: str | None, user: str) -> dict[str, Any]:
        version = self.version()
        try:
            archive = inspect_archive(data, expected_version=version)
        except ArchiveRefused as exc:
            raise _Refusal(409 if exc.reason == "wrong_version" else 422, exc.reason, exc.detail) from None
        with self.agent() as a:
            system = a.system_libraries(sorted(archive.module_names()))
        if system:
            raise _Refusal(422, "system_library", f"system library modules cannot be patched: {', '.join(system)}")
        if name:
            archive.manifest.setdefault("name", name)
        comp = {**archive.composition(), "uploaded_by": user, "uploaded_at": time.time(),
                "system_version": archive.system_version}
        with self.lock:
            self._clear()
            (self.store / "current.zip").write_bytes(data)
            unpacked = self.store / "current"
            for path, blob in archive.files.items():
                target = unpacked / path  # names were vetted: relative, no '..', no symlinks
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(blob)
            (self.store / "current.json").write_text(json.dumps(comp))
        return comp

    def composition(self) -> dict[str, Any]:
        path = self.store / "current.json"
        if not path.exists():
            raise _Refusal(404, "no_patch", "no patch archive is uploaded")
        return json.loads(path.read_text())  # type: ignore[no-any-return]

    def delete(self) -> None:
        self.composition()
        with self.lock:
            self._clear()

    def _clear(self) -> None:
        (self.store / "current.zip").unlink(missing_ok=True)
        (self.store / "current.json").unlink(missing_ok=True)
        shutil.rmtree(self.store / "current", ignore_errors=True)

    def _archive(self) -> PatchArchive:
        self.composition()
        version = self.version()
        try:
            return inspect_archive((self.store / "current.zip").read_bytes(), expected_version=version)
        except ArchiveRefused as exc:  # e.g. the system was updated since the upload
            raise _Refusal(409 if exc.reason == "wrong_version" else 422, exc.reason, exc.detail) from None

    def run(self, action: str) -> dict[str, Any]:
        archive = self._archive()
        request: tuple[Any, ...] = ((Atom("check"), archive.items) if action == "check"
                                    else (Atom("apply"), archive.name, archive.items))
        with self.lock, self.agent() as a:
            replies = a.domain(request)
        nodes = [_node_result(r) for r in replies]
        total = integral_status(n["integral"]["code"] for n in nodes)
        return {"action": action, "patch": archive.name, "system_version": archive.system_version,
                "integral": _status(total), "nodes": nodes}


def _status(s: Status) -> dict[str, Any]:
    return {"code": int(s), "status": s.label}


def _node_result(reply: dict[str, Any]) -> dict[str, Any]:
    if "result" not in reply:
        return {"node": reply["node"], "reachable": reply["reachable"], "error": reply.get("error"),
                "integral": _status(Status.ERROR), "modules": []}
    modules = reply["result"]["modules"]
    return {"node": reply["node"], "reachable": True, "version": reply["result"]["version"],
            "integral": _status(integral_status(m["code"] for m in modules)), "modules": modules}


class _Handler(BaseHTTPRequestHandler):
    server_version = "patch-service/1"
    service: PatchService  # set on the subclass made by serve()

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _reply(self, status: int, body: Any | None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else None

    def _body(self, limit: int) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise _Refusal(411, "length_required", "send a Content-Length")
        size = int(length)
        if size > limit:
            self._discard(size)
            raise _Refusal(413, "too_large", f"{size} bytes > {limit} (10 MB)")
        return self.rfile.read(size)

    def _discard(self, size: int) -> None:
        if size > _DISCARD_LIMIT:
            self.close_connection = True
            return
        while size > 0:
            chunk = self.rfile.read(min(size, 1 << 20))
            if not chunk:
                break
            size -= len(chunk)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        svc = self.service
        try:
            route = (method, url.path.rstrip("/"))
            if route == ("POST", "/api/login"):
                body = json.loads(self._body(65536) or b"{}")
                self._reply(200, svc.login(str(body.get("user", "")), str(body.get("password", ""))))
            elif route == ("GET", "/api/system"):
                svc.whoami(self._token(), admin=False)
                self._reply(200, {"version": svc.version(), "nodes": svc.nodes()})
            elif route == ("GET", "/api/nodes"):
                svc.whoami(self._token(), admin=False)
                self._reply(200, svc.nodes())
            elif route == ("GET", "/api/patch"):
                svc.whoami(self._token(), admin=False)
                self._reply(200, svc.composition())
            elif route == ("POST", "/api/patch"):
                user, _ = svc.whoami(self._token(), admin=True)
                name = parse_qs(url.query).get("name", [None])[0]
                self._reply(201, svc.upload(self._body(MAX_ARCHIVE_BYTES), name, user))
            elif route in (("POST", "/api/patch/check"), ("POST", "/api/patch/apply")):
                svc.whoami(self._token(), admin=True)
                self._reply(200, svc.run(route[1].rsplit("/", 1)[1]))
            elif route == ("DELETE", "/api/patch"):
                svc.whoami(self._token(), admin=True)
                svc.delete()
                self._reply(204, None)
            else:
                raise _Refusal(404, "not_found", f"{method} {url.path}")
        except _Refusal as exc:
            self._reply(exc.status, {"error": exc.error, "detail": exc.detail})
        except (TransportError, OSError) as exc:
            self._reply(502, {"error": "domain_unreachable", "detail": str(exc)})
        except json.JSONDecodeError as exc:
            self._reply(400, {"error": "bad_request", "detail": str(exc)})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


def serve(service: PatchService, port: int = 0, bind: str = "127.0.0.1") -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"service": service})
    server = ThreadingHTTPServer((bind, port), handler)
    server.daemon_threads = True
    return server


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agent-file", type=Path, required=True, help="the master agent's port file ('PORT NODE')")
    p.add_argument("--store", type=Path, required=True, help="where uploaded archives are kept")
    p.add_argument("--users", type=Path, required=True, help='JSON {"name": {"password": .., "role": ..}}')
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--bind", default="127.0.0.1", help="0.0.0.0 only inside a container (published on 127.0.0.1)")
    p.add_argument("--port-file", type=Path, help="write the port listened on here (useful with --port 0)")
    p.add_argument("--pid-file", type=Path, help="write this process's pid here (whoever started it detached "
                   "stops it by that)")
    args = p.parse_args(argv)
    if args.pid_file:
        _write_atomic(args.pid_file, f"{os.getpid()}\n")
    service = PatchService(args.agent_file, args.store, json.loads(args.users.read_text()))
    server = serve(service, args.port, args.bind)
    if args.port_file:
        _write_atomic(args.port_file, f"{server.server_address[1]}\n")
    server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
