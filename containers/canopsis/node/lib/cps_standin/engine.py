"""A Go engine stand-in: engine-fifo → engine-che → engine-axe (→ engine-correlation, Pro).

Each engine consumes its durable queue with manual acks, in batches; it forwards a batch with the
channel in AMQP transaction mode (publishes and the ack of the consumed batch commit together), so a
crash never loses a message and never forwards one twice from the same delivery. engine-axe writes
alarm state (``store.apply_batch``: deduplicated by event id) and then acks. SIGTERM finishes the
batch in hand and logs ``engine stopped``. A consumer that fails (the broker gone) logs ``engine stopped``,
then ``exit with error`` with the error, and the engine exits 1, as upstream's ``engine.Run`` and ``main`` do.

Fault injection (the stand-in's, not a Canopsis feature): with ``CPS_STANDIN_FAULT=kill-after-apply:N`` in
its environment, an engine SIGKILLs itself once its Nth batch is applied (engine-axe: committed to the alarm
store) and before that batch is acked, after logging ``fault injected: SIGKILL`` with the batch number, the
events in it and how many it applied in all, so a test kills it at that moment, not at a time that can
fall before or after it, and the node's log says where the kill landed.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from typing import Any

import pika

from cps_standin import store
from cps_standin.common import CONFIG_DOC, LOGS, edition, fatal, installed_version, log, read_json

QUEUES = {"fifo": "Engine_fifo", "che": "Engine_che", "axe": "Engine_axe", "correlation": "Engine_correlation"}
REQUIRED = ("connector", "connector_name", "source_type", "event_type", "component")
BATCH = 500
FAULT_ENV = "CPS_STANDIN_FAULT"


def validate(ev: Any) -> str | None:
    """Why an event cannot be processed, or None. Same rules as the API (api.py)."""
    if not isinstance(ev, dict):
        return "event is not a JSON object"
    for k in REQUIRED:
        if not isinstance(ev.get(k), str) or not ev.get(k):
            return f"{k} is missing"
    if ev["source_type"] == "resource" and not ev.get("resource"):
        return "resource is missing"
    if ev["event_type"] == "check" and ev.get("state") not in (0, 1, 2, 3):
        return "state must be 0, 1, 2 or 3"
    return None


def event_id(props: pika.BasicProperties, body: bytes, ev: Any = None) -> str:
    if props.message_id:
        return str(props.message_id)
    if isinstance(ev, dict) and isinstance(ev.get("event_id"), str) and ev["event_id"]:
        return ev["event_id"]
    return "sha256:" + hashlib.sha256(body).hexdigest()


class Engine:
    def __init__(self, name: str, publish_queue: str | None) -> None:
        self.name, self.queue, self.publish_queue = name, QUEUES[name], publish_queue
        self.logfile = LOGS / f"engine-{name}.log"
        self.stopping = False
        self.db = store.connect() if name in ("fifo", "axe", "correlation") else None
        self.batches = self.handled = 0

    def fault(self, point: str, events: int) -> None:
        """SIGKILL this engine here if ``CPS_STANDIN_FAULT`` names this point and batch (see the module doc)."""
        name, _, n = os.environ.get(FAULT_ENV, "").partition(":")
        if name == point and n.isdigit() and int(n) == self.batches:
            self.log("warn", "fault injected: SIGKILL", point=point, batch=self.batches, events=events,
                     handled=self.handled)
            os.kill(os.getpid(), signal.SIGKILL)

    def log(self, level: str, message: str, **fields: Any) -> None:
        log(level, message, file=self.logfile, engine=f"engine-{self.name}", **fields)

    def handle(self, ch: Any, batch: list[tuple[Any, Any, bytes]]) -> None:
        now = time.time()
        out: list[tuple[str, bytes]] = []
        if self.name == "fifo":
            bad = []
            for _m, props, body in batch:
                try:
                    ev = json.loads(body)
                except ValueError as exc:
                    bad.append((event_id(props, body), f"unable to parse event: {exc}"))
                    continue
                why = validate(ev)
                eid = event_id(props, body, ev)
                if why:
                    bad.append((eid, why))
                else:
                    out.append((eid, json.dumps(ev).encode()))
            if bad:
                assert self.db is not None
                store.reject(self.db, bad, now)
                for eid, why in bad[:3]:
                    self.log("warn", "invalid event", event_id=eid, error=why)
        elif self.name == "che":
            for _m, props, body in batch:
                ev = json.loads(body)
                ev["entity_id"] = f"{ev['resource']}/{ev['component']}" if ev.get("resource") else ev["component"]
                out.append((event_id(props, body, ev), json.dumps(ev).encode()))
        elif self.name == "axe":
            evs = [(event_id(p, b), json.loads(b)) for _m, p, b in batch]
            assert self.db is not None
            store.apply_batch(self.db, evs, now)
            out = [(eid, b) for (eid, _e), (_m, _p, b) in zip(evs, batch)]
        elif self.name == "correlation":
            assert self.db is not None
            ids = [event_id(p, b) for _m, p, b in batch]
            self.db.execute("BEGIN IMMEDIATE")
            applied = []
            for eid in ids:
                cur = self.db.execute("INSERT OR IGNORE INTO correlated(event_id) VALUES (?)", (eid,))
                applied.append((eid, cur.rowcount == 1))
            store.record(self.db, "engine-correlation", applied, now)
            self.db.execute("COMMIT")
        self.batches += 1
        self.handled += len(batch)
        self.fault("kill-after-apply", len(batch))  # applied, not yet forwarded nor acked
        if self.publish_queue:
            for eid, body in out:
                ch.basic_publish("amq.direct", self.publish_queue, body,
                                 pika.BasicProperties(delivery_mode=2, message_id=eid,
                                                      content_type="application/json"))
        ch.basic_ack(batch[-1][0].delivery_tag, multiple=True)
        if self.publish_queue:
            ch.tx_commit()

    def run(self, url: str) -> int:
        try:
            conn = pika.BlockingConnection(pika.URLParameters(url))
        except Exception as exc:  # noqa: BLE001 - any connection failure is fatal, as in the Go engines
            return fatal("failed to connect to rabbitmq", exc, file=self.logfile)
        ch = conn.channel()
        ch.basic_qos(prefetch_count=BATCH * 2)
        if self.publish_queue:
            ch.tx_select()
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stopping", True))
        self.log("info", "engine started", consumers=1, **{"periodical workers": 1},
                 version=installed_version(), edition=edition(), queue=self.queue,
                 publish_queue=self.publish_queue or "")
        batch: list[tuple[Any, Any, bytes]] = []
        try:
            for method, props, body in ch.consume(self.queue, inactivity_timeout=0.05):
                if method is not None:
                    batch.append((method, props, body))
                if batch and (method is None or len(batch) >= BATCH):
                    self.handle(ch, batch)
                    batch = []
                if self.stopping and not batch:
                    break
            ch.cancel()
            conn.close()
        except Exception as exc:  # noqa: BLE001 - as engine.Run returns the consumer's error: main logs it, exit 1
            self.log("info", "engine stopped")
            self.log("error", "exit with error", error=f"consumer failed: {type(exc).__name__}: {exc}")
            return 1
        self.log("info", "engine stopped")
        return 0


def main(name: str, argv: list[str]) -> int:
    import os

    publish = argv[argv.index("-publishQueue") + 1] if "-publishQueue" in argv else None
    eng = Engine(name, publish)
    if read_json(CONFIG_DOC) is None:
        return fatal("failed to load config: run canopsis-reconfigure first", file=eng.logfile)
    url = os.environ.get("CPS_AMQP_URL")
    if not url:
        return fatal("failed to connect to rabbitmq", "CPS_AMQP_URL is empty", file=eng.logfile)
    return eng.run(url)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
