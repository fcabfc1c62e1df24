"""The ``mongodb`` service of the 23.10+ Compose installation, its ``mongodb-rs-init`` job, and a client.

Not MongoDB: a listener on 27017 that knows upstream's accounts — ``root`` from compose.env's
``MONGO_INITDB_ROOT_USERNAME``/``MONGO_INITDB_ROOT_PASSWORD`` (authentication database ``admin``, as the image's
entrypoint creates it) and ``cpsmongo``/``canopsis`` owning database ``canopsis`` (upstream's
``files/mongo/create_user.js``) — and answers one JSON request a connection: ``ping`` (no authentication, as
the healthcheck's ``db.runCommand("ping").ok``), ``replSetInitiate`` (root only; ``AlreadyInitialized``, code 23,
once the set exists) and ``hello`` (``isWritablePrimary`` and ``setName``). The replica set's config is kept
in ``var/lib/mongodb/replset.json`` (the data volume's), and the node becomes primary a moment after the
initiation. It logs mongod's structured lines (``Waiting for connections``, ``client metadata``,
``Successfully authenticated``, ``Authentication failed``, ``replSetInitiate admin command received from
client``, ``Replica set state transition``) to ``var/log/mongodb.log``, so who connected, and when, is on record.

``mongodb-rs-init`` does what upstream's ``rs-initiate.js`` does (``rs.initiate({_id: "rs0", members: [{_id: 0,
host: "mongodb:27017"}]})`` as root, then wait for the node to be primary, ~30 s at most) and exits 1 when it
cannot. ``reconfigure`` (``-migrate-mongo=true``) connects with ``CPS_MONGO_URL`` (``?replicaSet=rs0``): a set
not initiated, or a wrong account, fails it as it fails the real one.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import sys
import threading
import time
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cps_standin.common import LOGS, ROOT

LOGFILE = LOGS / "mongodb.log"
REPLSET = ROOT / "var" / "lib" / "mongodb" / "replset.json"
PORT = 27017
#: upstream's files/mongo/create_user.js: the application's account, created at initdb
APP_USER, APP_PASSWORD, APP_DB = "cpsmongo", "canopsis", "canopsis"
#: seconds from replSetInitiate to the node's election as primary (the job waits for it, as rs-initiate.js)
ELECTION = 1.0
_lock = threading.Lock()
_conns = iter(range(1, 1 << 30))


def mongod_log(severity: str, component: str, id_: int, ctx: str, msg: str, **attr: Any) -> None:
    """One line of mongod's structured log (4.4+), on stdout and in :data:`LOGFILE`."""
    rec = {"t": {"$date": datetime.now().astimezone().isoformat(timespec="milliseconds")}, "s": severity,
           "c": component, "id": id_, "ctx": ctx, "msg": msg, **({"attr": attr} if attr else {})}
    line = json.dumps(rec) + "\n"
    sys.stdout.write(line)
    sys.stdout.flush()
    LOGFILE.parent.mkdir(parents=True, exist_ok=True)
    with _lock, LOGFILE.open("a") as f:
        f.write(line)


def _accounts() -> dict[tuple[str, str], str]:
    """(user, authentication database) -> password."""
    out = {(APP_USER, APP_DB): APP_PASSWORD}
    if os.environ.get("MONGO_INITDB_ROOT_USERNAME") and os.environ.get("MONGO_INITDB_ROOT_PASSWORD"):
        out[(os.environ["MONGO_INITDB_ROOT_USERNAME"], "admin")] = os.environ["MONGO_INITDB_ROOT_PASSWORD"]
    return out


def _replset() -> dict[str, Any] | None:
    try:
        return dict(json.loads(REPLSET.read_text()))
    except (OSError, ValueError):
        return None


def _error(code: int, name: str, msg: str) -> dict[str, Any]:
    return {"ok": 0, "errmsg": msg, "code": code, "codeName": name}


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        ctx = f"conn{next(_conns)}"
        try:
            req = json.loads(self.rfile.readline(65536) or b"{}")
        except ValueError:
            req = {}
        self.wfile.write(json.dumps(self._answer(ctx, req)).encode() + b"\n")

    def _answer(self, ctx: str, req: dict[str, Any]) -> dict[str, Any]:
        cmd, remote = req.get("cmd"), f"{self.client_address[0]}:{self.client_address[1]}"
        if cmd == "ping":
            return {"ok": 1}
        if req.get("application"):
            mongod_log("I", "NETWORK", 51800, ctx, "client metadata", remote=remote, client=ctx,
                       doc={"application": {"name": req["application"]}})
        user, db = str(req.get("user", "")), str(req.get("authSource", "admin"))
        if _accounts().get((user, db)) != req.get("password"):
            mongod_log("I", "ACCESS", 20249, ctx, "Authentication failed", mechanism="SCRAM-SHA-256",
                       principalName=user, authenticationDatabase=db, remote=remote,
                       error="AuthenticationFailed: SCRAM authentication failed, storedKey mismatch")
            return _error(18, "AuthenticationFailed", "Authentication failed.")
        mongod_log("I", "ACCESS", 20250, ctx, "Successfully authenticated", client=remote,
                   mechanism="SCRAM-SHA-256", user=user, db=db)
        rs = _replset()
        if cmd == "hello":
            primary = rs is not None and time.time() >= rs["initiated"] + ELECTION
            return {"ok": 1, "isWritablePrimary": primary, "ismaster": primary,
                    **({"setName": rs["_id"], "hosts": [m["host"] for m in rs["members"]]} if rs else {})}
        if cmd == "replSetInitiate":
            if db != "admin":
                return _error(13, "Unauthorized", "not authorized on admin to execute command { replSetInitiate }")
            if rs is not None:
                return _error(23, "AlreadyInitialized", "already initialized")
            config = dict(req.get("config") or {})
            mongod_log("I", "REPL", 21356, ctx, "replSetInitiate admin command received from client",
                       client=remote, config=config)
            REPLSET.parent.mkdir(parents=True, exist_ok=True)
            REPLSET.write_text(json.dumps({**config, "initiated": time.time()}))
            threading.Timer(ELECTION, mongod_log, ("I", "REPL", 21358, "ReplCoord-0", "Replica set state transition"),
                            {"newState": "PRIMARY", "oldState": "SECONDARY"}).start()
            return {"ok": 1}
        return _error(59, "CommandNotFound", f"no such command: '{cmd}'")


def serve(port: int = PORT) -> int:
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    with socketserver.ThreadingTCPServer(("0.0.0.0", port), _Handler) as srv:
        mongod_log("I", "NETWORK", 23016, "listener", "Waiting for connections", port=port, ssl="off")
        srv.serve_forever()
    return 0


def request(url: str, cmd: str, application: str = "", timeout: float = 3.0, **more: Any) -> dict[str, Any]:
    """Send ``cmd`` to the server of ``url`` (``mongodb://user:pass@host[:port]/[db][?authSource=…]``) with its
    account; the server's answer. OSError when it cannot be reached."""
    u = urlsplit(url)
    q = parse_qs(u.query)
    auth = (q.get("authSource") or [u.path.lstrip("/") or "admin"])[0]
    req = {"cmd": cmd, "user": unquote(u.username or ""), "password": unquote(u.password or ""),
           "authSource": auth, "application": application, **more}
    with socket.create_connection((u.hostname or "localhost", u.port or PORT), timeout=timeout) as s:
        s.sendall(json.dumps(req).encode() + b"\n")
        return dict(json.loads(s.makefile().readline() or "{}"))


def shell_ping(expr: str) -> int:
    """The healthcheck's ``echo 'db.runCommand("ping").ok' | mongo --quiet`` against this container's server."""
    if "".join(expr.split()) != 'db.runCommand("ping").ok':
        print("the Canopsis stand-in's mongo shell reads only db.runCommand(\"ping\").ok from stdin", file=sys.stderr)
        return 1
    try:
        ok = request(f"mongodb://localhost:{PORT}/", "ping").get("ok") == 1
    except OSError as exc:
        print(f"MongoNetworkError: connect ECONNREFUSED 127.0.0.1:{PORT} ({exc})", file=sys.stderr)
        return 1
    print(1 if ok else 0)
    return 0 if ok else 1


def rs_init(host: str = "mongodb", port: int = PORT, tries: int = 60, pause: float = 0.5) -> int:
    """The ``mongodb-rs-init`` job (upstream's rs-initiate.js, run as root): initiate rs0, wait to be primary."""
    user, pw = os.environ.get("MONGO_INITDB_ROOT_USERNAME", ""), os.environ.get("MONGO_INITDB_ROOT_PASSWORD", "")
    url = f"mongodb://{user}:{pw}@{host}:{port}/"
    config = {"_id": "rs0", "members": [{"_id": 0, "host": f"{host}:{port}"}]}
    try:
        res = request(url, "replSetInitiate", "mongodb-rs-init", config=config)
        if res.get("code") == 23:
            print("Replicaset was already configured: OK")
        elif res.get("ok") != 1:
            print(f"MongoServerError: {res.get('errmsg')}", file=sys.stderr)
            return 1
        for _ in range(tries):
            if request(url, "hello", "mongodb-rs-init").get("isWritablePrimary"):
                print("Node is primary. Init job complete!")
                return 0
            print("Node is not primary yet.")
            time.sleep(pause)
    except OSError as exc:
        print(f"MongoNetworkError: connect ECONNREFUSED {host}:{port} ({exc})", file=sys.stderr)
        return 1
    print("Timeout while waiting for primary election (~ 30 s). Aborting.")
    return 1


def connect(url: str, application: str, retries: int = 3) -> None:
    """What a Canopsis program's driver does first with ``CPS_MONGO_URL``: authenticate, and with
    ``replicaSet=NAME`` find that set's primary. ConnectionError with the driver's reason otherwise."""
    want = (parse_qs(urlsplit(url).query).get("replicaSet") or [""])[0]
    last = ""
    for attempt in range(max(1, retries)):
        try:
            res = request(url, "hello", application)
        except OSError as exc:
            last = f"server selection error: dial tcp {urlsplit(url).hostname}:{PORT}: {exc}"
            time.sleep(min(0.2 * 2 ** attempt, 2))
            continue
        if res.get("ok") != 1:
            raise ConnectionError(f"connection() error: auth error: sasl conversation error: unable to "
                                  f"authenticate using mechanism \"SCRAM-SHA-256\": ({res.get('codeName')}) "
                                  f"{res.get('errmsg')}")
        if not want or (res.get("setName") == want and res.get("isWritablePrimary")):
            return
        last = (f"server selection error: current topology: {{ Type: ReplicaSetNoPrimary, Set: {want} }}: "
                f"the server is {'in set ' + res['setName'] if res.get('setName') else 'not in a replica set'}"
                + ("" if res.get("isWritablePrimary") else ", not primary"))
        time.sleep(min(0.2 * 2 ** attempt, 2))
    raise ConnectionError(last)
