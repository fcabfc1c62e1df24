"""The Zato stand-in's ODB (SQLite, WAL) as servers hold it: one connection per server for as long as it
runs, as Zato's SQLAlchemy pool does, so a server paused at any moment blocks no reader.

A connection per query (what the stand-in did) let the count of open connections fall to zero between
polls; each close then checkpointed and deleted the WAL under an exclusive lock, and a server paused
inside that left the executor's read-only ODB query spinning until SQLite gave up ("locking protocol",
seen in CI as a hot-deploy step failing for the wrong server).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.products.zato import APP_CODE, standin_module

POLLER = """
import sys
sys.path.insert(0, sys.argv[1])
from zato_standin import odb
db = odb.ODB(sys.argv[2])
server_id = db.register_server("server1", "quickstart")
print("polling", flush=True)
while True:  # the deployer's poll, without its sleep: every instant is inside some ODB call
    db.awaiting(server_id)
"""


def test_a_server_keeps_one_connection_so_the_wal_outlives_each_query(tmp_path: Path) -> None:
    odb = standin_module("odb")
    path = tmp_path / "zato-odb.sqlite"
    db = odb.ODB(path)
    server_id = db.register_server("server1", "quickstart")
    assert db.awaiting(server_id) == []
    assert Path(f"{path}-wal").exists(), "the WAL was deleted after a query: the connection was closed"
    db.close()
    assert not Path(f"{path}-wal").exists(), "closing the last connection checkpoints and removes the WAL"


def test_a_server_paused_at_any_moment_blocks_no_read_only_reader(tmp_path: Path) -> None:
    path = tmp_path / "zato-odb.sqlite"
    stalls = []
    with subprocess.Popen([sys.executable, "-c", POLLER, str(APP_CODE), str(path)], stdout=subprocess.PIPE,
                          text=True) as poller:
        try:
            assert poller.stdout is not None and poller.stdout.readline().strip() == "polling"
            for pause in range(40):  # 40 pauses at whatever point of its loop the poller is
                time.sleep(0.003 * (pause % 7))
                os.kill(poller.pid, signal.SIGSTOP)
                reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)  # the executor's reader
                try:
                    reader.execute("SELECT COUNT(*) FROM server").fetchall()
                except sqlite3.OperationalError as exc:
                    stalls.append(f"pause {pause}: {exc}")
                finally:
                    reader.close()
                    os.kill(poller.pid, signal.SIGCONT)
        finally:
            poller.kill()  # the poller loops forever; the with block then reaps it
    assert not stalls, stalls
