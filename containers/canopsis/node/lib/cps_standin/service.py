"""``cps-service SERVICE``: the entry point of each service of the Compose installation.

In the Compose installation the image is the package: ``CANOPSIS_VERSION`` (set by the version's
compose file) is what is installed. ``reconfigure`` is the one-shot provisioning service (4.4/4.5
``01-prov``): it records the image's version as installed, runs what ``canopsinit`` does, then
``canopsis-reconfigure $CPS_RECONFIGURE_FLAGS`` and exits with its status; the engines and the API wait
for it to complete (``depends_on: condition: service_completed_successfully``). ``engine-*`` and
``api`` run in the foreground of their own container (no systemd, no pid files). From 22.10 the files add
``timescaledb`` (:mod:`cps_standin.postgres`) and the one-shot ``migrate-metrics-meta``, and reconfigure
runs upstream's compose command's ``-migrate-postgres=true -migrate-mongo=true`` before the notes' flags.
23.10 drops migrate-metrics-meta and adds ``mongodb`` (:mod:`cps_standin.mongodb`) and the one-shot
``mongodb-rs-init``; from 23.10 reconfigure's mongo migrations connect with ``CPS_MONGO_URL`` first
(``?replicaSet=rs0``: the set must have been initiated), and fail with ``failed to connect to mongo``.
"""

from __future__ import annotations

import os
import shlex
import sys

from cps_standin.common import fatal, installed_version, vkey

CHAIN = {"engine-fifo": "Engine_che", "engine-che": "Engine_axe", "engine-axe": None}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: cps-service reconfigure|migrate-metrics-meta|timescaledb|mongodb|mongodb-rs-init|api|"
              "engine-fifo|engine-che|engine-axe", file=sys.stderr)
        return 2
    service = argv[0]
    if service == "reconfigure":
        from cps_standin import pkg
        from cps_standin.reconfigure import main as reconfigure

        version = os.environ.get("CANOPSIS_VERSION", "")
        if not version:
            print("cps-service: CANOPSIS_VERSION is not set (see the compose file)", file=sys.stderr)
            return 2
        if installed_version() != version:
            pkg.install(version, action="compose")
        rc = pkg.canopsinit(["--canopsis-edition", os.environ.get("CANOPSIS_EDITION", "core")])
        # 22.10.0+ docker-compose.yml: `command: /canopsis-reconfigure -migrate-postgres=true -migrate-mongo=true …`
        upstream = ["-migrate-postgres=true", "-migrate-mongo=true"] if vkey(version)[0] >= 22 else []
        if not rc and vkey(version) >= vkey("23.10.0"):  # the files run the stand-in's mongodb as replica set rs0
            rc = _mongo_session()
        return rc or reconfigure(upstream + shlex.split(os.environ.get("CPS_RECONFIGURE_FLAGS", "")))
    if service in ("mongodb", "mongodb-rs-init"):
        from cps_standin import mongodb

        return mongodb.serve() if service == "mongodb" else mongodb.rs_init()
    if service in ("timescaledb", "migrate-metrics-meta"):
        from cps_standin import postgres

        return postgres.serve() if service == "timescaledb" else postgres.migrate_metrics_meta()
    if service == "api":
        from cps_standin.api import main as api

        return api([])
    if service in CHAIN:
        from cps_standin.engine import main as engine

        pub = CHAIN[service]
        return engine(service.removeprefix("engine-"), ["-publishQueue", pub] if pub else [])
    print(f"cps-service: unknown service {service!r}", file=sys.stderr)
    return 2


def _mongo_session() -> int:
    """reconfigure's MongoDB session (``-migrate-mongo=true``): CPS_MONGO_URL's account, rs0's primary."""
    from cps_standin.mongodb import connect
    from cps_standin.reconfigure import LOGFILE

    try:
        connect(os.environ.get("CPS_MONGO_URL", ""), "canopsis-reconfigure", int(os.environ.get("CPS_MAX_RETRY") or 3))
    except ConnectionError as exc:
        return fatal("failed to connect to mongo", exc, file=LOGFILE)
    return 0
