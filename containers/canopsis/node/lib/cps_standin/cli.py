"""One entry point for every launcher in ``bin/``: the program is chosen by the launcher's name."""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    prog, argv = Path(sys.argv[0]).name, sys.argv[1:]
    if prog in ("yum", "dnf"):
        from cps_standin.pkg import yum

        return yum(argv, prog)
    if prog == "canopsinit":
        from cps_standin.pkg import canopsinit

        return canopsinit(argv)
    if prog == "canopsis-migrate":
        from cps_standin.pkg import migrate

        return migrate(argv)
    if prog == "canopsis-reconfigure":
        from cps_standin.reconfigure import main as reconfigure

        return reconfigure(argv)
    if prog == "systemctl":
        from cps_standin.units import systemctl

        return systemctl(argv)
    if prog == "canoctl":
        from cps_standin.units import canoctl

        return canoctl(argv)
    if prog.startswith("engine-"):
        from cps_standin.engine import main as engine

        return engine(prog.removeprefix("engine-"), argv)
    if prog == "canopsis-api":
        from cps_standin.api import main as api

        return api(argv)
    if prog == "cps-service":
        from cps_standin.service import main as service

        return service(argv)
    if prog in ("mongosh", "mongo"):
        from cps_standin.mongo import main as mongosh

        return mongosh(argv)
    if prog == "pg_isready":
        from cps_standin.postgres import pg_isready

        return pg_isready(argv)
    if prog == "cps-stats":
        from cps_standin.store import main_stats

        return main_stats(argv)
    print(f"cps_standin: unknown program {prog!r}", file=sys.stderr)
    return 127
