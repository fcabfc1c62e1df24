"""The ``timescaledb`` service of the 22.10+ Compose installation, ``pg_isready``, and a client for the jobs.

Not PostgreSQL: a listener on 5432 that knows the account of ``compose.env`` (``POSTGRES_USER``,
``POSTGRES_PASSWORD``, ``POSTGRES_DB``, as the upstream image creates it) and answers one line per
connection: ``ping`` (pg_isready) or ``startup user=… database=… password=…``, refused with PostgreSQL's
own messages. It logs PostgreSQL's lines (``database system is ready to accept connections``,
``connection authorized: user=… database=…``) to ``var/log/timescaledb.log``, so what connected, and when,
is on record. The jobs (reconfigure's postgres migrations, migrate-metrics-meta) connect with
``CPS_POSTGRES_URL``: a wrong account or a database not up yet fails them, as it fails the real ones.
"""

from __future__ import annotations

import os
import socket
import socketserver
import sys
import time
from urllib.parse import unquote, urlsplit

from cps_standin.common import LOGS, log

LOGFILE = LOGS / "timescaledb.log"
PORT = 5432


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        words = self.rfile.readline(4096).decode(errors="replace").split()
        if words[:1] == ["ping"]:
            self.wfile.write(b"accepting connections\n")
            return
        got = dict(w.partition("=")[::2] for w in words[1:])
        want = {k: os.environ.get(f"POSTGRES_{k.upper()}", "") for k in ("user", "password", "db")}
        if got.get("user") != want["user"] or got.get("password") != want["password"]:
            answer = f'FATAL:  password authentication failed for user "{got.get("user", "")}"'
        elif got.get("database") != want["db"]:
            answer = f'FATAL:  database "{got.get("database", "")}" does not exist'
        else:
            answer = "OK"
            log("info", f"connection authorized: user={want['user']} database={want['db']}", file=LOGFILE,
                application=got.get("application", ""))
        self.wfile.write(answer.encode() + b"\n")


def serve() -> int:
    if not os.environ.get("POSTGRES_USER") or not os.environ.get("POSTGRES_PASSWORD"):
        print("Error: Database is uninitialized and superuser password is not specified.", file=sys.stderr)
        return 1
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    with socketserver.ThreadingTCPServer(("0.0.0.0", PORT), _Handler) as srv:
        log("info", "database system is ready to accept connections", file=LOGFILE,
            database=os.environ.get("POSTGRES_DB", ""), user=os.environ["POSTGRES_USER"])
        srv.serve_forever()
    return 0


def _ask(host: str, port: int, line: str, timeout: float = 3.0) -> str:
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(line.encode() + b"\n")
        return s.makefile().readline().strip()


def pg_isready(argv: list[str]) -> int:
    """``pg_isready [-h HOST] [-p PORT] [-d DB] [-U USER]``: exit 0 accepting, 2 no response (as the real one)."""
    opts = dict(zip(argv[::2], argv[1::2], strict=False))
    host, port = opts.get("-h", "localhost"), int(opts.get("-p", PORT))
    try:
        ok = _ask(host, port, "ping") == "accepting connections"
    except OSError:
        ok = False
    print(f"{host}:{port} - {'accepting connections' if ok else 'no response'}")
    return 0 if ok else 2


def connect(url: str, application: str, retries: int = 3) -> None:
    """Open a session with ``url`` (``postgresql://user:pass@host:port/db``); raise ConnectionError with the
    server's refusal, or why it could not be reached after ``retries`` attempts."""
    u = urlsplit(url)
    line = (f"startup user={unquote(u.username or '')} database={u.path.lstrip('/')} "
            f"password={unquote(u.password or '')} application={application}")
    last = ""
    for attempt in range(max(1, retries)):
        try:
            answer = _ask(u.hostname or "localhost", u.port or PORT, line)
        except OSError as exc:
            last = f"dial tcp {u.hostname}:{u.port or PORT}: {exc}"
            time.sleep(min(0.2 * 2 ** attempt, 2))
            continue
        if answer != "OK":
            raise ConnectionError(answer)
        return
    raise ConnectionError(last)


def migrate_metrics_meta() -> int:
    """The ``migrate-metrics-meta`` job (upstream community: a placeholder, ``alpine /bin/true``; Pro migrates
    the metrics' meta data into TimescaleDB): a session with CPS_POSTGRES_URL, on record, then exit 0."""
    logfile = LOGS / "migrate-metrics-meta.log"
    version = os.environ.get("CANOPSIS_VERSION", "")
    try:
        connect(os.environ.get("CPS_POSTGRES_URL", ""), "migrate-metrics-meta",
                int(os.environ.get("CPS_MAX_RETRY") or 3))
    except ConnectionError as exc:
        log("fatal", "failed to connect to postgres", file=logfile, error=str(exc), version=version)
        return 1
    log("info", "metrics meta migrated", file=logfile, version=version)
    return 0
