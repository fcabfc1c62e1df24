"""The operational database (ODB) of a cluster: one SQLite file every server of the environment opens,
as Zato's quickstart does (``server.conf [odb] engine=sqlite``, ``db_name=PATH``).

Tables (the hot-deploy part of Zato's ODB, reference §1.7):

- ``server``: one row per server of the cluster, created by ``zato create server``; ``up_status`` is
  ``running`` while it runs and ``clean-down`` after a clean stop;
- ``deployment_package``: one row per hot-deployed payload (``id`` grows like ``depl_package_seq``),
  with ``payload_name``, the ``payload`` itself (≤ 5 MB) and the originating ``server_id``;
- ``deployment_status``: one row per (package, server), ``awaiting-deployment`` → ``deployed``
  (``ignored`` for payloads that are not Python files);
- ``deployed_service``: per server, every user service it runs, with its module's ``source``,
  ``source_path`` and ``source_hash`` (SHA-256), re-created at each start.

Every write runs in ``BEGIN IMMEDIATE`` with a busy timeout, so concurrent servers serialise cleanly.
Stand-in simplification: servers learn of a new package by polling ``deployment_status`` (every
``POLL_SECONDS``) instead of a broker message (``HOT_DEPLOY.CREATE_SERVICE``).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MAX_PAYLOAD = 5_000_000  # bytes; Zato: deployment_package.payload = LargeBinary(5000000)
POLL_SECONDS = 0.02

AWAITING, DEPLOYED, IGNORED = "awaiting-deployment", "deployed", "ignored"

SCHEMA = """
CREATE TABLE IF NOT EXISTS server (
    id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, cluster TEXT NOT NULL,
    up_status TEXT, up_mod_date REAL, UNIQUE (name, cluster));
CREATE TABLE IF NOT EXISTS deployment_package (
    id INTEGER PRIMARY KEY AUTOINCREMENT, deployment_time REAL NOT NULL, details TEXT NOT NULL,
    payload_name TEXT NOT NULL, payload BLOB NOT NULL, server_id INTEGER NOT NULL REFERENCES server(id));
CREATE TABLE IF NOT EXISTS deployment_status (
    package_id INTEGER NOT NULL REFERENCES deployment_package(id), server_id INTEGER NOT NULL REFERENCES server(id),
    status TEXT NOT NULL, status_change_time REAL NOT NULL, PRIMARY KEY (package_id, server_id));
CREATE TABLE IF NOT EXISTS deployed_service (
    server_id INTEGER NOT NULL REFERENCES server(id), service_name TEXT NOT NULL, deployment_time REAL NOT NULL,
    details TEXT NOT NULL, source BLOB, source_path TEXT, source_hash TEXT, payload_name TEXT,
    PRIMARY KEY (server_id, service_name));
"""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ODB:
    """A server's handle on the ODB: one connection, opened at first use and kept until :meth:`close`, as
    Zato's SQLAlchemy pool keeps its own. A connection per query would let the count of open connections
    fall to zero between polls, and each time it does SQLite checkpoints and deletes the WAL on close and
    the next opener rebuilds the WAL index, both under exclusive locks: a server paused (SIGSTOP) inside
    one of those left every other reader spinning until SQLite gave up with "locking protocol". With each
    running server holding its connection, the WAL lives as long as the cluster runs and a paused server
    blocks nobody (WAL readers never wait; a write transaction lasts microseconds)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()  # the HTTP threads and the deployer share the one connection
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            db = self.connection()
            # WAL: readers never block the writer, and with synchronous=NORMAL a commit does not fsync
            # (a crash of the machine may lose the last commits, never corrupt the file): the ODB sits
            # on the path of every hot-deploy confirmation. Works across processes and containers of
            # one kernel (the -shm file is mmap-shared).
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)  # CREATE ... IF NOT EXISTS: safe from every server at once

    def connection(self) -> sqlite3.Connection:
        with self._lock:
            if self._db is None:
                self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA busy_timeout=30000")
                self._db.execute("PRAGMA synchronous=NORMAL")
            return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self.connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def read(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            return self.connection().execute(sql, args).fetchall()

    # ---- servers ------------------------------------------------------------------------------
    def register_server(self, name: str, cluster: str) -> int:
        with self.write() as db:
            db.execute("INSERT OR IGNORE INTO server (name, cluster, up_status) VALUES (?, ?, NULL)", (name, cluster))
            row = db.execute("SELECT id FROM server WHERE name=? AND cluster=?", (name, cluster)).fetchone()
        return int(row[0])

    def set_up_status(self, server_id: int, status: str) -> None:
        with self.write() as db:
            db.execute("UPDATE server SET up_status=?, up_mod_date=? WHERE id=?", (status, time.time(), server_id))

    # ---- packages -----------------------------------------------------------------------------
    def create_package(self, server_id: int, cluster: str, payload_name: str, payload: bytes, details: str) -> int:
        """Steps 1 and 2 of the pipeline: the package row, then ``awaiting-deployment`` for every server."""
        now = time.time()
        with self.write() as db:
            cur = db.execute("INSERT INTO deployment_package (deployment_time, details, payload_name, payload, "
                             "server_id) VALUES (?, ?, ?, ?, ?)", (now, details, payload_name, payload, server_id))
            package_id = int(cur.lastrowid or 0)
            servers = [r[0] for r in db.execute("SELECT id FROM server WHERE cluster=?", (cluster,))]
            db.executemany("INSERT INTO deployment_status VALUES (?, ?, ?, ?)",
                           [(package_id, s, AWAITING, now) for s in servers])
        return package_id

    def awaiting(self, server_id: int) -> list[int]:
        rows = self.read("SELECT package_id FROM deployment_status WHERE server_id=? AND status=? "
                         "ORDER BY package_id", (server_id, AWAITING))
        return [int(r[0]) for r in rows]

    def missed(self, server_id: int) -> list[int]:
        """Packages this server has to catch up with at start: awaiting for it, deployed by another server
        (a payload no server could deploy is not a missing service), newest per payload name, and not
        superseded by a newer package of the same name this server already deployed."""
        rows = self.read(
            "SELECT st.package_id, p.payload_name FROM deployment_status st JOIN deployment_package p "
            "ON p.id = st.package_id WHERE st.server_id = ? AND st.status = ? "
            "AND EXISTS (SELECT 1 FROM deployment_status o WHERE o.package_id = st.package_id AND o.status = ?) "
            "AND NOT EXISTS (SELECT 1 FROM deployment_status m JOIN deployment_package q ON q.id = m.package_id "
            "  WHERE m.server_id = st.server_id AND m.status = ? AND q.payload_name = p.payload_name AND q.id > p.id) "
            "ORDER BY st.package_id", (server_id, AWAITING, DEPLOYED, DEPLOYED))
        newest = {str(name): int(pid) for pid, name in rows}  # type: ignore[call-overload]
        return sorted(newest.values())

    def max_package_id(self) -> int:
        return int(self.read("SELECT COALESCE(MAX(id), 0) FROM deployment_package")[0][0])  # type: ignore[call-overload]

    def package(self, package_id: int) -> tuple[str, bytes]:
        rows = self.read("SELECT payload_name, payload FROM deployment_package WHERE id=?", (package_id,))
        return str(rows[0][0]), bytes(rows[0][1])  # type: ignore[arg-type]

    def set_status(self, package_id: int, server_id: int, status: str) -> None:
        with self.write() as db:
            db.execute("UPDATE deployment_status SET status=?, status_change_time=? WHERE package_id=? AND "
                       "server_id=?", (status, time.time(), package_id, server_id))

    # ---- deployed services --------------------------------------------------------------------
    def replace_deployed(self, server_id: int, rows: list[tuple[str, bytes, str, str]], *,
                         drop: list[str] | None = None, drop_all: bool = False,
                         deployed_package: int | None = None) -> None:
        """Upsert ``(service_name, source, source_path, payload_name)`` rows of one server; a row is
        rewritten only when the source changed (``_should_delete_deployed_service``). With
        ``deployed_package``, that package's status for the server becomes ``deployed`` in the same
        transaction."""
        now = time.time()
        with self.write() as db:
            if deployed_package is not None:
                db.execute("UPDATE deployment_status SET status=?, status_change_time=? WHERE package_id=? AND "
                           "server_id=?", (DEPLOYED, now, deployed_package, server_id))
            if drop_all:
                db.execute("DELETE FROM deployed_service WHERE server_id=?", (server_id,))
            for name in drop or []:
                db.execute("DELETE FROM deployed_service WHERE server_id=? AND service_name=?", (server_id, name))
            for name, source, source_path, payload_name in rows:
                digest = sha256(source)
                old = db.execute("SELECT source_hash, source_path FROM deployed_service WHERE server_id=? AND "
                                 "service_name=?", (server_id, name)).fetchone()
                if old is not None and old[0] == digest and old[1] == source_path:
                    continue
                db.execute("INSERT OR REPLACE INTO deployed_service VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (server_id, name, now, "{}", source, source_path, digest, payload_name))
