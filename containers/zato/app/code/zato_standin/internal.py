"""Internal services and their cache, ``config/repo/internal-cache.dat`` (reference §1.3).

Real Zato pickles the internal service classes with dill; the stand-in writes JSON with the same role:
a server started without ``--sync-internal`` deploys what the cache holds, even if the code it runs
now has a different set of internal services. That is why the runbook says to start servers with
``--sync-internal`` after a code update.
"""

from __future__ import annotations

import json
from pathlib import Path

# Internal service modules of this release (zato.server.service.internal.*). Each module contributes
# a fixed number of services; the total is what the server logs.
INTERNAL_MODULES = {
    "zato.server.service.internal.channel.amqp_": 6,
    "zato.server.service.internal.channel.jms_wmq": 6,
    "zato.server.service.internal.channel.web_socket": 12,
    "zato.server.service.internal.cache.builtin": 18,
    "zato.server.service.internal.cloud.aws.s3": 5,
    "zato.server.service.internal.hot_deploy": 2,
    "zato.server.service.internal.http_soap": 14,
    "zato.server.service.internal.info": 3,
    "zato.server.service.internal.kvdb": 4,
    "zato.server.service.internal.outgoing.sql": 9,
    "zato.server.service.internal.pubsub": 96,
    "zato.server.service.internal.scheduler": 8,
    "zato.server.service.internal.security": 120,
    "zato.server.service.internal.server": 6,
    "zato.server.service.internal.service": 25,
    "zato.server.service.internal.stats": 12,
    "zato.server.service.internal.updates": 2,
    # upstream-builder: new internal modules go above this line
}


def service_names() -> list[str]:
    names = []
    for module, count in sorted(INTERNAL_MODULES.items()):
        names.extend(f"{module}.Service{i}" for i in range(count))
    return names


def cache_path(server_dir: Path) -> Path:
    return server_dir / "config" / "repo" / "internal-cache.dat"


def write_cache(server_dir: Path, version: str) -> tuple[int, int]:
    """Write the cache; returns (number of services, size in bytes)."""
    names = service_names()
    data = json.dumps({"version": version, "services": names}).encode()
    path = cache_path(server_dir)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return len(names), len(data)


def read_cache(server_dir: Path) -> int | None:
    """Number of services in the cache, None when it cannot be used."""
    try:
        data = json.loads(cache_path(server_dir).read_text())
        return len(data["services"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def human_size(size: int) -> str:
    """Like the ``humanize.naturalsize`` output in real Zato's log line: ``1.2 kB``."""
    value = float(size)
    for unit in ("Bytes", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "Bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")
