"""Alarm state on disk (SQLite, WAL, synchronous=FULL): each event's effect is applied once.

The dedupe key is the event id (AMQP ``message_id``, set by the API or the producer; else a hash of the
body). engine-axe commits a batch's effects and the ids in one transaction *before* acking the batch,
so a redelivery after a crash or restart finds its id and changes nothing (counted as a duplicate).

Every processing is recorded as well, deduplicated or not (``processings``: event id, engine, pid, time,
whether it applied an effect), so a suite can tell an event handled twice from one never handled:
the alarm counters alone cannot, as they rise with the dedupe table in one transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from cps_standin.common import DB

SCHEMA = """
CREATE TABLE IF NOT EXISTS processed (event_id TEXT PRIMARY KEY, entity TEXT NOT NULL, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS alarms (entity TEXT PRIMARY KEY, state INTEGER NOT NULL, events INTEGER NOT NULL,
                                   output TEXT, last_event TEXT);
CREATE TABLE IF NOT EXISTS rejected (event_id TEXT PRIMARY KEY, reason TEXT NOT NULL, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS correlated (event_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS processings (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,
                                        engine TEXT NOT NULL, pid INTEGER NOT NULL, ts REAL NOT NULL,
                                        applied INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS processings_event ON processings(event_id);
"""


def connect(path: Path = DB, *, readonly: bool = False) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    if readonly and path.exists():
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    else:
        con = sqlite3.connect(path, timeout=30, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.executescript(SCHEMA)
    return con


def bump(con: sqlite3.Connection, name: str, n: int = 1) -> None:
    con.execute("INSERT INTO counters(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", (name, n))


def record(con: sqlite3.Connection, engine: str, rows: list[tuple[str, bool]], now: float) -> None:
    """One ``processings`` row per (event id, applied) that *engine* handled (inside the caller's transaction)."""
    con.executemany("INSERT INTO processings(event_id, engine, pid, ts, applied) VALUES (?, ?, ?, ?, ?)",
                    [(eid, engine, os.getpid(), now, int(applied)) for eid, applied in rows])


def apply_batch(con: sqlite3.Connection, events: list[tuple[str, dict[str, Any]]], now: float,
                engine: str = "engine-axe") -> tuple[int, int]:
    """Apply (event_id, event) pairs in one transaction; returns (applied, duplicates)."""
    applied = dup = 0
    seen: list[tuple[str, bool]] = []
    con.execute("BEGIN IMMEDIATE")
    try:
        for eid, ev in events:
            entity = ev.get("entity_id") or "/".join(str(ev.get(k, "")) for k in ("resource", "component"))
            cur = con.execute("INSERT OR IGNORE INTO processed(event_id, entity, ts) VALUES (?, ?, ?)",
                              (eid, entity, now))
            seen.append((eid, cur.rowcount == 1))
            if cur.rowcount != 1:
                dup += 1
                continue
            applied += 1
            con.execute("INSERT INTO alarms(entity, state, events, output, last_event) VALUES (?, ?, 1, ?, ?) "
                        "ON CONFLICT(entity) DO UPDATE SET state=excluded.state, events=events+1, "
                        "output=excluded.output, last_event=excluded.last_event",
                        (entity, int(ev.get("state", 0)), str(ev.get("output", "")), eid))
        if dup:
            bump(con, "duplicates_ignored", dup)
        record(con, engine, seen, now)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return applied, dup


def reject(con: sqlite3.Connection, rows: list[tuple[str, str]], now: float) -> None:
    con.execute("BEGIN IMMEDIATE")
    con.executemany("INSERT OR IGNORE INTO rejected(event_id, reason, ts) VALUES (?, ?, ?)",
                    [(eid, why, now) for eid, why in rows])
    con.execute("COMMIT")


def stats(prefix: str = "") -> dict[str, Any]:
    """What the suites count on: distinct events applied, the sum of alarm counters, duplicates, rejects."""
    if not DB.exists():
        return {"processed": 0, "alarm_events": 0, "alarms": 0, "duplicates_ignored": 0, "rejected": 0,
                "correlated": 0}
    con = connect(readonly=True)
    try:
        like = prefix + "%"
        out = {
            "processed": con.execute("SELECT count(*) FROM processed WHERE event_id LIKE ?", (like,)).fetchone()[0],
            "alarm_events": con.execute("SELECT coalesce(sum(events),0) FROM alarms").fetchone()[0],
            "alarms": con.execute("SELECT count(*) FROM alarms").fetchone()[0],
            "rejected": con.execute("SELECT count(*) FROM rejected WHERE event_id LIKE ?", (like,)).fetchone()[0],
            "correlated": con.execute("SELECT count(*) FROM correlated WHERE event_id LIKE ?", (like,)).fetchone()[0],
            "duplicates_ignored": (con.execute("SELECT value FROM counters WHERE name='duplicates_ignored'")
                                   .fetchone() or [0])[0],
        }
        out["rejected_reasons"] = sorted({r[0] for r in con.execute(
            "SELECT reason FROM rejected WHERE event_id LIKE ? LIMIT 50", (like,))})
        out["engines"] = _processings(con, like)
        return out
    finally:
        con.close()


def _processings(con: sqlite3.Connection, like: str) -> dict[str, dict[str, Any]]:
    """Per engine, from every recorded processing: how many, of how many distinct events, how many events
    were handled more than once (and applied more than once), and a few of them as examples."""
    out: dict[str, dict[str, Any]] = {}
    rows = con.execute("SELECT engine, count(*), count(DISTINCT event_id), sum(applied), min(ts), max(ts) "
                       "FROM processings WHERE event_id LIKE ? GROUP BY engine", (like,)).fetchall()
    for engine, n, distinct, applied, first, last in rows:
        twice = con.execute("SELECT event_id, count(*), sum(applied), group_concat(pid) FROM processings "
                            "WHERE engine = ? AND event_id LIKE ? GROUP BY event_id HAVING count(*) > 1",
                            (engine, like)).fetchall()
        out[engine] = {"processings": n, "events": distinct, "applied": applied or 0, "first": first,
                       "last": last, "handled_more_than_once": len(twice),
                       "applied_more_than_once": sum(1 for r in twice if r[2] > 1),
                       "examples": [{"event_id": r[0], "times": r[1], "applied": r[2], "pids": r[3]}
                                    for r in twice[:5]]}
    return out


def main_stats(argv: list[str]) -> int:
    """``cps-stats [--prefix P]``: the stand-in's own counts, as JSON (not a Canopsis command)."""
    prefix = argv[argv.index("--prefix") + 1] if "--prefix" in argv else ""
    print(json.dumps(stats(prefix)))
    return 0
