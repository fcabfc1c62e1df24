"""``cps-service SERVICE``: the entry point of each service of the Compose installation.

In the Compose installation the image is the package: ``CANOPSIS_VERSION`` (set by the version's
compose file) is what is installed. ``reconfigure`` is the one-shot provisioning service (4.4/4.5
``01-prov``): it records the image's version as installed, runs what ``canopsinit`` does, then
``canopsis-reconfigure $CPS_RECONFIGURE_FLAGS`` and exits with its status; the engines and the API wait
for it to complete (``depends_on: condition: service_completed_successfully``). ``engine-*`` and
``api`` run in the foreground of their own container (no systemd, no pid files).
"""

from __future__ import annotations

import os
import shlex
import sys

from cps_standin.common import installed_version

CHAIN = {"engine-fifo": "Engine_che", "engine-che": "Engine_axe", "engine-axe": None}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: cps-service reconfigure|api|engine-fifo|engine-che|engine-axe", file=sys.stderr)
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
        return rc or reconfigure(shlex.split(os.environ.get("CPS_RECONFIGURE_FLAGS", "")))
    if service == "api":
        from cps_standin.api import main as api

        return api([])
    if service in CHAIN:
        from cps_standin.engine import main as engine

        pub = CHAIN[service]
        return engine(service.removeprefix("engine-"), ["-publishQueue", pub] if pub else [])
    print(f"cps-service: unknown service {service!r}", file=sys.stderr)
    return 2
