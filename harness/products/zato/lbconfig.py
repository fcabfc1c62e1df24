"""What a Zato load balancer's HAProxy config (``LB/config/repo/zato.config``) does when a server stops.

Zato 3.2's template (zato-cli ``create_lb.py``) and its agent's server lines (``check inter 2s rise 2 fall 2``)
set no ``retries``, ``option redispatch`` or ``retry-on``. With HAProxy's defaults — 3 retries, all on the
server first chosen, none on another — every request sent to a server whose port has closed is answered
503 until ``fall`` failed checks mark it DOWN: up to fall × inter (2 × 2 s) per server restart. A rolling
restart loses no request only when a refused connection is retried on another server: ``option redispatch``
and ``retries`` above 0, in ``defaults`` or in the backend (a backend's ``no option redispatch`` wins).

Parsed by hand: HAProxy has no machine-readable config dump (``haproxy -c`` only validates), and the
preflight transport reads files, it runs no HAProxy. Only what decides the answer is read: sections, and
the ``retries``, ``option redispatch``, ``default-server`` and ``server`` lines of ``defaults`` and the
backend.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from harness.environment import ComponentHandle

BACKEND = "bck_http_plain"  # Zato's backend of plain HTTP servers
#: HAProxy's own defaults (configuration.txt: ``retries`` 3; a server's ``inter`` 2000 ms, ``fall`` 3)
_RETRIES, _INTER_MS, _FALL = 3, 2000.0, 3
_SECTION = re.compile(r"^(global|defaults|frontend|backend|listen|peers|resolvers|userlist|program)\b\s*(\S*)")
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0, "d": 86_400_000.0}


@dataclass(frozen=True)
class Failover:
    """Whether HAProxy retries a refused connection on another server, and how long a stopped server keeps
    getting requests otherwise (the longest fall × inter of the backend's servers, in seconds)."""

    redispatch: bool
    retries: int
    down_after_s: float

    @property
    def keeps_requests(self) -> bool:
        return self.redispatch and self.retries > 0


def path(lb: ComponentHandle) -> str:
    """Where ``lb``'s HAProxy config is (Zato's agent starts HAProxy with ``-f`` this path)."""
    return f"{lb.path}/config/repo/zato.config"


def read(lb: ComponentHandle) -> str | None:
    """The text of ``lb``'s HAProxy config, or None when it cannot be read."""
    try:
        return lb.host.transport.get(path(lb)).decode(errors="replace")
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return None


def _ms(value: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([a-z]*)", value)
    if not m or m[2] not in ("", *_UNITS):
        raise ValueError(f"not an HAProxy time: {value!r}")
    return float(m[1]) * _UNITS.get(m[2], 1.0)


def _check_params(words: list[str], inter: float, fall: int) -> tuple[float, int]:
    for key, val in itertools.pairwise(words):
        if key == "inter":
            inter = _ms(val)
        elif key == "fall":
            fall = int(val)
    return inter, fall


def failover(config: str) -> Failover:
    """:class:`Failover` of ``config``'s backend ``bck_http_plain`` (what ``defaults`` gives it included)."""
    section, name = "", ""
    # per scope ("defaults", "backend"): the last setting seen; the backend's wins
    redispatch: dict[str, bool] = {}
    retries: dict[str, int] = {}
    default_server: dict[str, tuple[float, int]] = {}
    servers: list[tuple[float, int]] = []
    for raw in config.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if m := _SECTION.match(line):
            section, name = m[1], m[2]
            if section == "defaults":  # a new defaults section replaces the one before (HAProxy's rule)
                for d in (redispatch, retries, default_server):
                    d.pop("defaults", None)
            continue
        scope = "defaults" if section == "defaults" else "backend" if (
            section in ("backend", "listen") and name == BACKEND) else ""
        if not scope:
            continue
        words = line.split()
        if words[:2] == ["option", "redispatch"] or words[:3] == ["no", "option", "redispatch"]:
            redispatch[scope] = words[0] != "no"
        elif words[0] == "retries" and len(words) > 1 and words[1].isdigit():
            retries[scope] = int(words[1])
        elif words[0] == "default-server":
            default_server[scope] = _check_params(words[1:], *default_server.get("defaults", (_INTER_MS, _FALL)))
        elif words[0] == "server" and scope == "backend" and "check" in words:
            base = default_server.get("backend", default_server.get("defaults", (_INTER_MS, _FALL)))
            servers.append(_check_params(words[3:], *base))
    down = max((inter * fall / 1000.0 for inter, fall in servers), default=0.0)
    return Failover(redispatch.get("backend", redispatch.get("defaults", False)),
                    retries.get("backend", retries.get("defaults", _RETRIES)), down)


__all__ = ["BACKEND", "Failover", "failover", "read"]
