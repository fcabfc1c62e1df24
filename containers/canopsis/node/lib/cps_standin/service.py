"""``cps-service SERVICE``: the entry point of each service of the Compose installation.

In the Compose installation the image is the package: ``CANOPSIS_VERSION`` (set by the version's
compose file) is what is installed. ``reconfigure`` is the one-shot provisioning service (4.4/4.5
``01-prov``): it records the image's version as installed, runs what ``canopsinit`` does, then
``canopsis-reconfigure $CPS_RECONFIGURE_FLAGS`` and exits with its status; the engines and the API wait
for it to complete (``depends_on: condition: service_completed_successfully``). ``engine-*`` and
``api`` run in the foreground of their own container (no systemd, no pid files). From 22.10 the files add
``timescaledb`` (:mod:`cps_standin.postgres`) and the one-shot ``migrate-metrics-meta``, and reconfigure
runs upstream's compose command's ``-migrate-postgres=true -migrate-mongo=true`` before the notes' flags.
"""

from __future__ import annotations

import os
import shlex
import sys

from cps_standin.common import installed_version, vkey

CHAIN = {"engine-fifo": "Engine_che", "engine-che": "Engine_axe", "engine-axe": None}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: cps-service reconfigure|migrate-metrics-meta|timescaledb|api|engine-fifo|engine-che|engine-axe",
              file=sys.stderr)
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
        return rc or reconfigure(upstream + shlex.split(os.environ.get("CPS_RECONFIGURE_FLAGS", "")))
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
