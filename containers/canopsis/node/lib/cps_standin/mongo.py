"""``mongosh`` stand-in: the one question the update's precheck asks MongoDB, answered as mongosh does.

``mongosh [--quiet] [URL] --eval 'JSON.stringify(db.adminCommand({getParameter: 1,
featureCompatibilityVersion: 1}))'`` prints ``{"featureCompatibilityVersion":{"version":"4.2"},"ok":1}``.
The stand-in runs no MongoDB: the version is ``var/lib/mongodb/featureCompatibilityVersion`` when a test
(or an operator following a migration guide) wrote it, else what the installed Canopsis version's
migration guides leave it at (4.5.0: 4.2; 22.10.0: 4.4; 23.04.0: 5.0; 24.04.0: 6.0). Any other expression
is refused with exit 1 and a message naming what the stand-in cannot do. Without ``--eval``, the expression
on stdin is the 23.10+ mongodb service's healthcheck (:func:`cps_standin.mongodb.shell_ping`).
"""

from __future__ import annotations

import json
import re
import sys

from cps_standin.common import ROOT, installed_version

FCV_FILE = ROOT / "var" / "lib" / "mongodb" / "featureCompatibilityVersion"
_AFTER_GUIDE = [((24, 4), "6.0"), ((23, 4), "5.0"), ((22, 10), "4.4"), ((4, 5), "4.2"), ((0, 0), "3.6")]


def fcv() -> str:
    if FCV_FILE.exists():
        return FCV_FILE.read_text().strip()
    m = re.match(r"(\d+)\.(\d+)", installed_version() or "0.0")
    have = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    return next(v for since, v in _AFTER_GUIDE if have >= since)


def main(argv: list[str]) -> int:
    if "--eval" not in argv and not sys.stdin.isatty():  # 23.10+ mongodb healthcheck: `echo '…' | mongo --quiet`
        from cps_standin.mongodb import shell_ping

        return shell_ping(sys.stdin.read())
    expr = argv[argv.index("--eval") + 1] if "--eval" in argv and argv.index("--eval") + 1 < len(argv) else ""
    compact = re.sub(r"\s+", "", expr)
    if "getParameter:1" in compact and "featureCompatibilityVersion:1" in compact:
        answer = {"featureCompatibilityVersion": {"version": fcv()}, "ok": 1}
        if compact.startswith("JSON.stringify("):
            print(json.dumps(answer, separators=(",", ":")))
        else:
            print(f"{{ featureCompatibilityVersion: {{ version: '{fcv()}' }}, ok: 1 }}")
        return 0
    print("MongoshUnimplementedError: the Canopsis stand-in's mongosh answers only "
          "db.adminCommand({getParameter: 1, featureCompatibilityVersion: 1})", file=sys.stderr)
    return 1
