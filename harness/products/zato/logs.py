"""Parser of Zato log lines (``logs/server.log`` and friends), real Zato and the stand-in alike.

Line format (``logging`` with Zato's format string; Cython builds log line number 0)::

    2024-05-01 10:00:00,123 - INFO - 4242:MainThread - zato.server.base.parallel:0 - Started `server1@dev` (pid: 4242)

Lines that do not start with a timestamp (tracebacks) continue the message of the event before them.
A timestamp without a zone is taken as UTC (the stand-in logs UTC; point ``tz`` at the zone of a real
server that logs local time). Each event gets a ``kind``:

=================  ==============================================================  =======================
kind               message                                                         fields
=================  ==============================================================  =======================
starting           ``Starting Zato `3.2.0` server `server1` (pid: P)``             version, component, name
started            ``Started `server1@dev` (pid: P)``                              server, cluster
ready              ``Web-admin `web-admin` ready (pid: P)``                        component, name
stopping/stopped   ``Stopping Zato server `server1` (pid: P)``                     component, name
sync_internal      ``Deploying and caching internal services (server1)``,          server, phase, [count, size]
                   ``Deployed and cached 412 internal services (17.8 kB) (s1)``
cached_internal    ``Deploying cached internal services (server1)``,               server, phase, [count]
                   ``Deployed 412 cached internal services (server1)``
boot_failed        ``Worker failed to boot …`` / gunicorn's ``Exception in worker process``
uploaded_package   ``Uploaded package id:`22`, payload_name:`x.py` `` (or ``[22]``)  package_id, payload_name
other              anything else (``Preferred address of …`` gets server, cluster, address)
=================  ==============================================================  =======================

``fields`` values are strings except ``count``, ``package_id`` and ``pid`` (int). A ``(pid: P)`` in the message
is ``fields["pid"]``; :attr:`LogEvent.pid` is the pid of the line prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

__all__ = ["KINDS", "UPLOADED_PACKAGE_RE", "LogEvent", "parse_line", "parse_log"]

KINDS = ("starting", "started", "sync_internal", "cached_internal", "stopping", "stopped", "ready",
         "boot_failed", "uploaded_package", "other")

_LINE_RE = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[,.]\d{1,6})?)"
    r"\s+-\s+(?P<level>[A-Z]+)\s+-\s+"
    r"(?:(?P<pid>\d+):(?P<thread>[^ ]*)\s+-\s+)?"
    r"(?:(?P<logger>[\w.\-]+):(?P<lineno>\d+)\s+-\s+)?"
    r"(?P<message>.*)$"
)

#: Reference §1.7: both the 3.x backtick form and the documented bracket form.
UPLOADED_PACKAGE_RE = re.compile(
    r"Uploaded package id:[\[`](?P<package_id>\d+)[\]`], payload_name:[\[`](?P<payload_name>[^\]`]+)[\]`]"
)

_PID = r"\(pid: (?P<pid>\d+)\)"
_PATTERNS: list[tuple[str, re.Pattern[str], dict[str, str]]] = [
    ("starting", re.compile(
        rf"^Starting Zato `(?P<version>[^`]+)` (?P<component>[\w-]+) `(?P<name>[^`]+)` {_PID}"), {}),
    ("started", re.compile(rf"^Started `(?P<server>[^@`]+)@(?P<cluster>[^`]+)` {_PID}"), {}),
    ("ready", re.compile(rf"^(?P<component>[\w'-]+) `(?P<name>[^`]+)` ready {_PID}"), {}),
    ("stopping", re.compile(rf"^Stopping Zato (?P<component>[\w-]+) `(?P<name>[^`]+)` {_PID}"), {}),
    ("stopped", re.compile(rf"^Stopped Zato (?P<component>[\w-]+) `(?P<name>[^`]+)` {_PID}"), {}),
    ("sync_internal", re.compile(r"^Deploying and caching internal services \((?P<server>[^)]+)\)"),
     {"phase": "begin"}),
    ("sync_internal", re.compile(
        r"^Deployed and cached (?P<count>\d+) internal services \((?P<size>[^)]*)\) \((?P<server>[^)]+)\)"),
     {"phase": "end"}),
    ("cached_internal", re.compile(r"^Deploying cached internal services \((?P<server>[^)]+)\)"),
     {"phase": "begin"}),
    ("cached_internal", re.compile(
        r"^Deployed (?P<count>\d+) cached internal services \((?P<server>[^)]+)\)"), {"phase": "end"}),
    ("boot_failed", re.compile(r"Worker failed to boot|Exception in worker process"), {}),
    ("other", re.compile(
        rf"^Preferred address of `(?P<server>[^@`]+)@(?P<cluster>[^`]+)` {_PID}"
        r" is `(?P<address>[^`]+)`"), {}),
]
_INT_FIELDS = ("count", "package_id", "pid")


@dataclass(frozen=True)
class LogEvent:
    ts: datetime
    level: str
    pid: int | None
    message: str
    kind: str = "other"
    fields: dict[str, Any] = field(default_factory=dict, hash=False)
    logger: str | None = None
    thread: str | None = None

    @property
    def first_line(self) -> str:
        return self.message.split("\n", 1)[0]


def _classify(message: str) -> tuple[str, dict[str, Any]]:
    head = message.split("\n", 1)[0]
    found = UPLOADED_PACKAGE_RE.search(head)
    if found:
        return "uploaded_package", _fields(found.groupdict())
    for kind, pattern, extra in _PATTERNS:
        found = pattern.search(head)
        if found:
            return kind, {**_fields(found.groupdict()), **extra}
    return "other", {}


def _fields(groups: dict[str, str | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in groups.items():
        if value is None:
            continue
        out[key] = int(value) if key in _INT_FIELDS else value
    return out


def _parse_ts(text: str, tz: tzinfo) -> datetime:
    text = text.replace("T", " ").replace(",", ".")
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=tz).astimezone(UTC)


def parse_line(line: str, tz: tzinfo = UTC) -> LogEvent | None:
    """One event from one line, or None when the line does not start with a Zato log prefix."""
    found = _LINE_RE.match(line.rstrip("\r\n"))
    if not found:
        return None
    message = found["message"]
    kind, fields = _classify(message)
    return LogEvent(ts=_parse_ts(found["ts"], tz), level=found["level"],
                    pid=int(found["pid"]) if found["pid"] else None, message=message, kind=kind,
                    fields=fields, logger=found["logger"], thread=found["thread"])


def parse_log(text: str, tz: tzinfo = UTC) -> list[LogEvent]:
    """All events of a log, in file order; continuation lines are appended to the previous message."""
    events: list[LogEvent] = []
    for line in text.splitlines():
        event = parse_line(line, tz)
        if event is not None:
            events.append(event)
        elif events and line.strip():
            last = events[-1]
            events[-1] = LogEvent(last.ts, last.level, last.pid, last.message + "\n" + line, last.kind,
                                  last.fields, last.logger, last.thread)
    return events
