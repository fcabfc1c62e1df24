"""Read-only questions to a Zato cluster's ODB, asked on a server's host through its transport.

The stand-in's ODB is SQLite (``server.conf [odb] engine=sqlite``, as Zato's quickstart can use); the
query runs as ``python3 -c SCRIPT DB_PATH SQL ARGS_JSON`` on the server's host (argv only, the SQL is
a constant of this module), opened read-only (``mode=ro``), and prints JSON rows. A PostgreSQL ODB of a
real environment would need a different reader; the questions below are the seam.
"""

from __future__ import annotations

import configparser
import json
from dataclasses import dataclass
from typing import Any

from harness.environment import ComponentHandle, Environment
from harness.errors import RefusedError

_SCRIPT = (
    "import json,sqlite3,sys\n"
    "db=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro',uri=True,timeout=30)\n"
    "rows=db.execute(sys.argv[2],json.loads(sys.argv[3])).fetchall()\n"
    "print(json.dumps([[c.hex() if isinstance(c,bytes) else c for c in r] for r in rows]))\n"
)


def db_path(server: ComponentHandle) -> str:
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(server.host.transport.get(f"{server.path}/config/repo/server.conf").decode())
    if conf.get("odb", "engine", fallback="") != "sqlite" or not conf.get("odb", "db_name", fallback=""):
        raise RefusedError(f"{server.name}: server.conf has no SQLite [odb] section; this reader needs one\n"
                           f"Hint: create the servers with `--odb_type sqlite --sqlite_path PATH`")
    return conf.get("odb", "db_name")


def query(server: ComponentHandle, sql: str, args: tuple[Any, ...] = ()) -> list[list[Any]]:
    res = server.host.transport.run(["python3", "-c", _SCRIPT, db_path(server), sql, json.dumps(list(args))],
                                    timeout=60).check()
    rows: list[list[Any]] = json.loads(res.stdout)
    return rows


def servers(env: Environment) -> list[ComponentHandle]:
    return [c for c in env.components.values() if c.role == "server"]


@dataclass(frozen=True)
class DeployedService:
    server: str
    service: str
    payload_name: str
    source_path: str
    source_hash: str
    source: bytes


def deployed_services(env: Environment) -> list[DeployedService]:
    rows = query(servers(env)[0], "SELECT s.name, d.service_name, d.payload_name, d.source_path, d.source_hash, "
                 "d.source FROM deployed_service d JOIN server s ON s.id = d.server_id ORDER BY s.name, d.service_name")
    return [DeployedService(r[0], r[1], r[2] or "", r[3] or "", r[4] or "", bytes.fromhex(r[5] or ""))
            for r in rows]


def max_package_id(env: Environment) -> int:
    rows = query(servers(env)[0], "SELECT COALESCE(MAX(id), 0) FROM deployment_package")
    return int(rows[0][0])


def package_statuses(env: Environment, since_id: int) -> list[tuple[int, str, str, str, float]]:
    """``(package_id, payload_name, server, status, status_change_time)`` of packages after ``since_id``."""
    rows = query(servers(env)[0], "SELECT p.id, p.payload_name, s.name, st.status, st.status_change_time "
                 "FROM deployment_package p JOIN deployment_status st ON st.package_id = p.id "
                 "JOIN server s ON s.id = st.server_id WHERE p.id > ? ORDER BY p.id, s.name", (since_id,))
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3]), float(r[4])) for r in rows]


def cluster_servers(env: Environment) -> list[str]:
    return [str(r[0]) for r in query(servers(env)[0], "SELECT name FROM server ORDER BY name")]
