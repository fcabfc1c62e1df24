"""canopsis-api stand-in: the v4 HTTP routes that matter during maintenance (reference §2.6).

``POST /api/v4/event`` (one event or a list; each validated, then published to ``canopsis.events`` in
one AMQP transaction: either every event of the request is accepted, or none and the status says why),
broadcast messages (``/api/v4/broadcast-message[/:id]``, ``/api/v4/active-broadcast-message``),
``/api/v4/app-info`` (version and edition from the version document written by canopsis-reconfigure),
``/api/v4/alarms``. No authentication (the real API has it). Listens on CPS_API_LISTEN, else on the
host:port of CPS_API_URL (8082 by default).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pika

from cps_standin import store
from cps_standin.common import LOGS, STATE, VERSION_DOC, log, read_json, write_json
from cps_standin.engine import validate

LOGFILE = LOGS / "canopsis-api.log"
BROADCASTS = STATE / "broadcast-messages.json"


class Broker:
    """One AMQP channel in transaction mode, shared by the request threads under a lock."""

    def __init__(self, url: str) -> None:
        self.url, self.lock, self.conn, self.ch = url, threading.Lock(), None, None

    def publish(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        with self.lock:
            for attempt in (1, 2):
                try:
                    if self.ch is None or not self.ch.is_open:
                        self.conn = pika.BlockingConnection(pika.URLParameters(self.url))
                        self.ch = self.conn.channel()
                        self.ch.tx_select()
                    for eid, ev in events:
                        key = ".".join(str(ev.get(k, "")) for k in ("connector", "connector_name", "event_type",
                                                                    "source_type", "component"))
                        self.ch.basic_publish("canopsis.events", key, json.dumps(ev).encode(),
                                              pika.BasicProperties(delivery_mode=2, message_id=eid,
                                                                   content_type="application/json"))
                    self.ch.tx_commit()
                    return
                except Exception:
                    self.ch = None
                    if attempt == 2:
                        raise


class Handler(BaseHTTPRequestHandler):
    server: Api
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # access log off: too chatty under load
        pass

    def reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> tuple[Any, str | None]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            return json.loads(raw), None
        except ValueError as exc:
            return None, f"request has invalid structure: {exc}"

    def route(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = url.path.rstrip("/").split("/")[3:]  # after /api/v4
        if not url.path.startswith("/api/v4/") or not parts:
            return self.reply(404, {"error": "Not found"})
        name, rest = parts[0], parts[1:]
        if name == "event" and method == "POST":
            return self.post_event()
        if name == "app-info" and method == "GET":
            doc = read_json(VERSION_DOC, {}) or {}
            return self.reply(200, {"version": doc.get("version", ""), "edition": doc.get("edition", ""),
                                    "stack": doc.get("stack", "go"), "serial_name": doc.get("serial_name", "")})
        if name == "alarms" and method == "GET":
            st = store.stats()
            return self.reply(200, {"data": [], "meta": {"total_count": st["alarms"]}, "stats": st})
        if name == "active-broadcast-message" and method == "GET":
            now = time.time()
            return self.reply(200, [m for m in self.server.broadcasts() if m["start"] <= now <= m["end"]])
        if name == "broadcast-message":
            return self.broadcast(method, rest[0] if rest else None, parse_qs(url.query))
        return self.reply(404 if method == "GET" else 405, {"error": "Not found"})

    def post_event(self) -> None:
        data, err = self.body()
        if err:
            return self.reply(400, {"error": err})
        events = data if isinstance(data, list) else [data]
        errors = {}
        for i, ev in enumerate(events):
            why = validate(ev)
            if why:
                errors[f"{i}" if isinstance(data, list) else "event"] = why
        if errors or not events:
            return self.reply(400, {"errors": errors or {"event": "no event"}})
        batch = [(str(ev.get("event_id") or uuid.uuid4()), ev) for ev in events]
        try:
            self.server.broker.publish(batch)
        except Exception as exc:  # noqa: BLE001 - nothing accepted: the caller must retry
            log("error", "cannot send event to rabbitmq", file=LOGFILE, error=str(exc))
            return self.reply(503, {"error": "cannot send events, retry later"})
        return self.reply(200, {"sent_events": [eid for eid, _ in batch], "failed_events": [], "retry_events": []})

    def broadcast(self, method: str, mid: str | None, query: dict[str, list[str]]) -> None:
        msgs = self.server.broadcasts()
        if method == "GET" and mid is None:
            search = (query.get("search") or [""])[0]
            return self.reply(200, {"data": [m for m in msgs if search in m["message"]]})
        if method == "POST" and mid is None:
            data, err = self.body()
            missing = [k for k in ("color", "message", "start", "end") if not isinstance(data, dict) or k not in data]
            if err or missing:
                return self.reply(400, {"error": err} if err else {"errors": {k: f"{k} is missing" for k in missing}})
            msg = {"_id": str(uuid.uuid4()), **{k: data[k] for k in ("color", "message", "start", "end")},
                   "created": int(time.time())}
            self.server.save_broadcasts(msgs + [msg])
            return self.reply(201, msg)
        found = [m for m in msgs if m["_id"] == mid]
        if not found:
            return self.reply(404, {"error": "Not found"})
        if method == "GET":
            return self.reply(200, found[0])
        if method == "DELETE":
            self.server.save_broadcasts([m for m in msgs if m["_id"] != mid])
            return self.reply(204, {})
        if method == "PUT":
            data, err = self.body()
            if err or not isinstance(data, dict):
                return self.reply(400, {"error": err or "expected an object"})
            new = {**found[0], **{k: data[k] for k in ("color", "message", "start", "end") if k in data}}
            self.server.save_broadcasts([new if m["_id"] == mid else m for m in msgs])
            return self.reply(200, new)
        return self.reply(405, {"error": "Method not allowed"})

    def _serve(self, method: str) -> None:
        # requests being handled finish before the process exits (graceful shutdown, as Go's
        # Server.Shutdown): killed mid-reply, a client gets a cut response it cannot tell from a refusal
        with self.server.active_lock:
            self.server.active += 1
        try:
            if self.server.stopping:
                self.close_connection = True
            self.route(method)
        finally:
            with self.server.active_lock:
                self.server.active -= 1

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")


class Api(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], broker: Broker) -> None:
        super().__init__(addr, Handler)
        self.broker, self.lock = broker, threading.Lock()
        self.active, self.active_lock, self.stopping = 0, threading.Lock(), False

    def drain(self, timeout: float = 5.0) -> None:
        """After serve_forever returned: let requests being handled finish (bounded)."""
        self.stopping = True
        deadline = time.monotonic() + timeout
        while self.active and time.monotonic() < deadline:
            time.sleep(0.02)

    def broadcasts(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(read_json(BROADCASTS, []) or [])

    def save_broadcasts(self, msgs: list[dict[str, Any]]) -> None:
        with self.lock:
            write_json(BROADCASTS, msgs)


def main(argv: list[str]) -> int:
    listen = os.environ.get("CPS_API_LISTEN") or urlsplit(os.environ.get("CPS_API_URL") or "http://localhost:8082").netloc
    host, _, port = listen.rpartition(":")
    url = os.environ.get("CPS_AMQP_URL", "")
    api = Api((host or "127.0.0.1", int(port)), Broker(url))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=api.shutdown, daemon=True).start())
    log("info", "http server started", file=LOGFILE, addr=listen,
        version=(read_json(VERSION_DOC, {}) or {}).get("version", ""))
    api.serve_forever(poll_interval=0.1)
    api.server_close()
    api.drain()
    log("info", "http server stopped", file=LOGFILE)
    return 0
