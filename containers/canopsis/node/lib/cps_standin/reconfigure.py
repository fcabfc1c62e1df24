"""``canopsis-reconfigure`` (reference §2.5): flags parsed like Go's ``flag`` package, log lines and
exit codes of the real tool (0, or 1 after a zerolog ``Fatal`` ``failed to …``; 2 for a bad flag).

Reads ``-conf`` (default ``etc/canopsis.toml``) merged, from 4.6.0 on, with ``etc/conf.d/canopsis-override.toml``, and
the environment of ``go-engines-vars.conf`` (``CPS_AMQP_URL``, ``CPS_MAX_RETRY``, ``CPS_MAX_DELAY``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import tomllib
from typing import Any

from cps_standin.common import (
    CONFIG_DOC,
    EDITIONS,
    ETC,
    LOGS,
    ROOT,
    STATE,
    VERSION_DOC,
    edition,
    fatal,
    installed_version,
    log,
    read_json,
    vkey,
    write_json,
)

LOGFILE = LOGS / "canopsis-reconfigure.log"
BOOL = {"d", "migrate-mongo", "migrate-postgres", "version"}
TYPES = {"PrefetchCount": int, "PrefetchSize": int, "ReconnectTimeoutMilliseconds": int, "BulkMaxSize": int,
         "MaxExternalResponseSize": int, "EventFilterFailureLimit": int, "ExportTimeout": str}


def flags(argv: list[str], version: str) -> dict[str, str] | int:
    known = {"conf", "d", "migrate-mongo", "mongo-migration-directory", "mongo-fixture-directory",
             "migrate-postgres", "postgres-migration-directory", "postgres-migration-mode",
             "postgres-migration-steps", "version"}
    if version and vkey(version)[0] >= 22:
        known.add("edition")  # newer versions only
    out = {"conf": str(ETC / "canopsis.toml"), "migrate-mongo": "true", "migrate-postgres": "false",
           "postgres-migration-mode": "up"}
    args = list(argv)
    while args:
        a = args.pop(0)
        name, eq, value = a.lstrip("-").partition("=")
        if not a.startswith("-") or name not in known:
            print(f"flag provided but not defined: -{name}\nUsage of canopsis-reconfigure:", file=sys.stderr)
            for k in sorted(known):
                print(f"  -{k}", file=sys.stderr)
            return 2
        if not eq:
            if name in BOOL:
                value = "true"
            elif args:
                value = args.pop(0)
            else:
                print(f"flag needs an argument: -{name}", file=sys.stderr)
                return 2
        if name in BOOL and value not in ("true", "false", "1", "0"):
            print(f'invalid boolean value "{value}" for -{name}: parse error', file=sys.stderr)
            return 2
        out[name] = {"1": "true", "0": "false"}.get(value, value)
    return out


def reads_override(version: str) -> bool:
    """``conf.d/canopsis-override.toml`` exists from 4.6.0 (``lib/canopsis/config/override.go``; absent in
    4.5.2): before, the tool reads canopsis.toml alone and an override file is ignored."""
    parts = [int(x) for x in version.split(".")[:2] if x.isdigit()]
    return len(parts) == 2 and tuple(parts) >= (4, 6)


def load_config(path: str, version: str = "") -> dict[str, Any]:
    with open(path, "rb") as f:
        conf = tomllib.load(f)
    override = ETC / "conf.d/canopsis-override.toml"
    if reads_override(version or installed_version()) and override.exists():
        try:
            with override.open("rb") as f:
                extra = tomllib.load(f)
            for table, values in extra.get("Canopsis", {}).items():
                conf.setdefault("Canopsis", {}).setdefault(table, {}).update(values)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            log("warn", "skip configuration override", file=LOGFILE, error=str(exc))
    rmq = conf.get("RabbitMQ", {})
    if not rmq.get("exchanges") or not rmq.get("queues"):
        raise ValueError("RabbitMQ.exchanges and RabbitMQ.queues must be defined")
    for table, values in conf.get("Canopsis", {}).items():
        for key, want in TYPES.items():
            if key in values and not isinstance(values[key], want):
                raise ValueError(f"Canopsis.{table}.{key}: expected {want.__name__}, got {values[key]!r}")
    return conf


def declare(url: str, conf: dict[str, Any]) -> None:
    import pika

    retries = int(os.environ.get("CPS_MAX_RETRY") or 3)
    last: Exception | None = None
    for attempt in range(retries):
        try:
            params = pika.URLParameters(url)
            params.socket_timeout = params.blocked_connection_timeout = 5
            conn = pika.BlockingConnection(params)
            break
        except Exception as exc:  # noqa: BLE001
            last = exc
            time.sleep(min(0.2 * 2 ** attempt, 2))
    else:
        raise ConnectionError(f"cannot connect to {url.rpartition('@')[2]}: {last!r}")
    ch = conn.channel()
    log("info", "initialising rabbitmq exchanges", file=LOGFILE)
    for ex in conf["RabbitMQ"]["exchanges"]:
        ch.exchange_declare(ex["name"], exchange_type=ex.get("kind", "topic"), durable=ex.get("durable", True),
                            auto_delete=ex.get("autoDelete", False), internal=ex.get("internal", False))
        log("info", f'exchange "{ex["name"]}" created', file=LOGFILE)
    log("info", "initialising rabbitmq queues", file=LOGFILE)
    for q in conf["RabbitMQ"]["queues"]:
        ch.queue_declare(q["name"], durable=q.get("durable", True), auto_delete=q.get("autoDelete", False),
                         exclusive=q.get("exclusive", False))
        log("info", f'queue "{q["name"]}" created', file=LOGFILE)
        bind = q.get("bind")
        if bind:
            ch.queue_bind(q["name"], bind["exchange"], routing_key=bind["key"])
            log("info", f'"{q["name"]}" bind to "{bind["exchange"]}" exchange with "{bind["key"]}" routing key',
                file=LOGFILE)
    conn.close()


def main(argv: list[str]) -> int:
    version = installed_version()
    f = flags(argv, version)
    if isinstance(f, int):
        return f
    if f.get("version") == "true":
        print(f"version: {version}")
        return 0
    log("info", "canopsis-reconfigure", file=LOGFILE, args=argv, version=version)
    try:
        conf = load_config(f["conf"])
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        return fatal("failed to parse config", f"{f['conf']}: {exc}", file=LOGFILE)
    url = os.environ.get("CPS_AMQP_URL", "")
    if not url:
        return fatal("failed to initialize rabbitmq", "CPS_AMQP_URL is empty (source go-engines-vars.conf)",
                     file=LOGFILE)
    try:
        declare(url, conf)
    except Exception as exc:  # noqa: BLE001 - every AMQP failure is this fatal
        return fatal("failed to initialize rabbitmq", exc, file=LOGFILE)
    fixtures = STATE / "mongo/fixtures"
    if not fixtures.exists():
        log("info", "start mongo fixtures", file=LOGFILE)
        write_json(fixtures, {"applied": time.time()})
        log("info", "finish mongo fixtures", file=LOGFILE)
    write_json(CONFIG_DOC, conf.get("Canopsis", {}))
    if f["migrate-mongo"] == "true":
        log("info", "start mongo migrations", file=LOGFILE)
        log("info", "finish mongo migrations", file=LOGFILE)
    if f["migrate-postgres"] == "true":
        mode = f["postgres-migration-mode"]
        if mode not in ("up", "down"):
            return fatal("failed to run postgres migrations", f'unknown migration mode "{mode}"', file=LOGFILE)
        log("info", "start postgres migrations", file=LOGFILE, mode=mode)
        if os.environ.get("CPS_POSTGRES_URL"):  # the Compose files' timescaledb (22.10+): a real session
            from cps_standin.postgres import connect

            try:
                connect(os.environ["CPS_POSTGRES_URL"], "canopsis-reconfigure",
                        int(os.environ.get("CPS_MAX_RETRY") or 3))
            except ConnectionError as exc:
                return fatal("failed to connect to postgres", exc, file=LOGFILE)
        pg = STATE / "postgres.json"
        write_json(pg, {**(read_json(pg, {}) or {}), version: mode})
        log("info", "finish postgres migrations", file=LOGFILE)
    serial = "-".join(w for w in ("brave", "otter") if w) + "-" + hashlib.sha1(str(ROOT).encode()).hexdigest()[:4]
    log("info", f'serial name: "{serial}"', file=LOGFILE)
    old = read_json(VERSION_DOC, {}) or {}
    ed = f.get("edition") or EDITIONS.get(edition(), "community")
    doc = {"version": version, "edition": ed, "stack": "go", "serial_name": serial,
           "version_updated": time.time() if old.get("version") != version else old.get("version_updated")}
    write_json(VERSION_DOC, doc)  # last: "keep it in the end for cmd/ready"
    return 0
