"""Web-admin stand-in: ``GET /`` (200, empty: the ping of reference §1.1), login, and the service upload
of reference §1.8.

- ``POST /accounts/login/`` (form ``username``, ``password``) sets the ``sessionid`` cookie and redirects
  (302); wrong credentials re-render the form (200), as Django's login view does. The account is
  ``[stand_in] admin_user``/``admin_password`` of web-admin.conf (``zato create web-admin``).
- ``POST /zato/service/upload/?qqfile=<name>`` (the IDE's fine-uploader XHR form: the file is the raw
  body) is ``login_required``: without a session it redirects to the login page. A ``.py`` file is
  syntax-checked first (400 ``{"success": false, "data": "<traceback>"}``); then the file goes to the
  cluster's ``zato.service.upload-package`` (through ``[stand_in] cluster_address``, the load
  balancer) and the answer is 200 ``{"success": true, "data": "OK, deployed"}``, or 500
  ``Deployment error, e:`…` `` when the server refuses it.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import traceback
import urllib.error
import urllib.request
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

from zato_standin import httpbase

if TYPE_CHECKING:
    from zato_standin.runtime import Runtime

LOGIN_FORM = (b"<html><body><form method='post' action='/accounts/login/'>"
              b"<input name='username'><input name='password' type='password'><button>Log in</button>"
              b"</form></body></html>")


class WebAdminHandler(httpbase.QuietHandler):
    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _session(self) -> bool:
        cookie = SimpleCookie(self.headers.get("Cookie") or "")
        sid = cookie["sessionid"].value if "sessionid" in cookie else ""
        return sid in self.server.zato_sessions  # type: ignore[attr-defined]

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        path = urlsplit(self.path).path
        if path == "/":
            self.reply(200)
        elif path == "/accounts/login/":
            self.reply(200, LOGIN_FORM, "text/html")
        else:
            self.reply(404)

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        body = self._body()
        if url.path == "/":
            self.reply(200)
        elif url.path == "/accounts/login/":
            self._login(body)
        elif url.path == "/zato/service/upload/":
            if not self._session():
                self.reply(302, headers={"Location": "/accounts/login/?next=" + quote(self.path, safe="")})
                return
            qs = parse_qs(url.query)
            self._upload(qs.get("qqfile", [""])[0], body)
        else:
            self.reply(404)

    def _login(self, body: bytes) -> None:
        form = parse_qs(body.decode(errors="replace"))
        conf = self.server.zato_conf  # type: ignore[attr-defined]
        user, password = form.get("username", [""])[0], form.get("password", [""])[0]
        if user == conf.get("admin_user") and password and password == conf.get("admin_password"):
            sid = secrets.token_hex(16)
            self.server.zato_sessions.add(sid)  # type: ignore[attr-defined]
            nxt = form.get("next", ["/"])[0] or "/"
            self.reply(302, headers={"Location": nxt, "Set-Cookie": f"sessionid={sid}; HttpOnly; Path=/"})
        else:
            self.reply(200, LOGIN_FORM, "text/html")

    def _answer(self, status: int, success: bool, data: str, started: float) -> None:
        took = f"{(time.monotonic() - started) * 1000:.0f} ms"
        body = {"success": success, "data": data, "response_time_human": took}
        self.reply(status, json.dumps(body).encode(), "application/json")

    def _upload(self, name: str, payload: bytes) -> None:
        started = time.monotonic()
        if name.endswith(".py"):
            try:
                compile(payload, name, "exec")
            except SyntaxError:
                self._answer(400, False, traceback.format_exc(), started)
                return
        address = self.server.zato_conf.get("cluster_address")  # type: ignore[attr-defined]
        try:
            if not address:
                raise RuntimeError("no cluster address (web-admin.conf [stand_in] cluster_address)")
            req = urllib.request.Request(
                f"http://{address}/zato/json/zato.service.upload-package", method="POST",
                data=json.dumps({"cluster_id": 1, "payload": base64.b64encode(payload).decode(),
                                 "payload_name": name}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - the cluster's own LB
                json.loads(resp.read())["package_id"]
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            self.reply(500, f"Deployment error, e:`{detail}`".encode())
            return
        except Exception as exc:  # noqa: BLE001 - reference: any other error is a 500 with the message
            self.reply(500, f"Deployment error, e:`{exc}`".encode())
            return
        self._answer(200, True, "OK, deployed", started)


def boot(rt: Runtime) -> list[httpbase.GracefulHTTPServer] | None:
    comp = rt.comp
    if rt.sleep(comp.config.getfloat("stand_in", "boot_seconds", fallback=0.1)):
        return []
    try:
        httpd = httpbase.GracefulHTTPServer((comp.host, comp.port), WebAdminHandler)
    except OSError as exc:
        rt.log.error("Could not bind to %s:%d, e:`%s` (pid: %d)", comp.host, comp.port, exc, rt.pid)
        return None
    httpd.zato_conf = dict(comp.config["stand_in"])  # type: ignore[attr-defined]
    httpd.zato_sessions = set()  # type: ignore[attr-defined]
    httpbase.serve(httpd)
    return [httpd]
