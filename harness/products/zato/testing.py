"""Test helpers for Zato histories: log lines in the exact format :func:`harness.products.zato.logs.parse_log`
reads, for unit-testing checks without a running environment.

- :func:`zato_log_line` — one line as Zato's ``logging`` format writes it;
- :class:`LogBuilder` — a recorded history, line by line, at increasing timestamps.

Nothing here imports pytest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["LogBuilder", "zato_log_line"]

_EPOCH = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


def _as_datetime(ts: datetime | float) -> datetime:
    if isinstance(ts, datetime):
        return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return datetime.fromtimestamp(ts, tz=UTC)


def zato_log_line(ts: datetime | float, message: str, pid: int = 1, level: str = "INFO", *,
                  thread: str = "MainThread", logger: str = "zato.server.base.parallel") -> str:
    """One line as Zato's ``logging`` format writes it (UTC; ``ts`` a datetime or epoch seconds)::

        2024-05-01 10:00:00,123 - INFO - 42:MainThread - zato.server.base.parallel:0 - Started `s@c` (pid: 42)
    """
    t = _as_datetime(ts).astimezone(UTC)
    stamp = t.strftime("%Y-%m-%d %H:%M:%S") + f",{t.microsecond // 1000:03d}"
    return f"{stamp} - {level} - {pid}:{thread} - {logger}:0 - {message}"


@dataclass
class LogBuilder:
    """Appends Zato log lines at increasing timestamps (``step`` seconds apart unless told otherwise).

    >>> log = LogBuilder(pid=42).starting("server", "server1", "3.2.0").started("server1", "dev")
    >>> [e.kind for e in log.events()]
    ['starting', 'started']
    """

    start: datetime = _EPOCH
    step: float = 0.1
    pid: int = 1
    lines: list[str] = field(default_factory=list)
    _now: datetime | None = field(default=None, init=False, repr=False)

    @property
    def now(self) -> datetime:
        """Timestamp of the last line written (``start`` before any)."""
        return self._now or self.start

    def advance(self, seconds: float) -> LogBuilder:
        self._now = self.now + timedelta(seconds=seconds)
        return self

    def line(self, message: str, *, level: str = "INFO", pid: int | None = None,
             after: float | None = None) -> LogBuilder:
        """Append ``message`` ``after`` seconds (default ``step``) after the previous line (or the clock
        moved by :meth:`advance`)."""
        if self._now is None:  # the first line is at ``start`` (plus ``after``)
            self._now = self.start + timedelta(seconds=after or 0.0)
        else:
            self._now += timedelta(seconds=self.step if after is None else after)
        self.lines.append(zato_log_line(self._now, message, self.pid if pid is None else pid, level))
        return self

    def raw(self, text: str) -> LogBuilder:
        """Append a line with no prefix (a traceback line continuing the previous message)."""
        self.lines.append(text)
        return self

    # the lines the parser knows (see harness.products.zato.logs)
    def starting(self, component: str, name: str, version: str, **kw: Any) -> LogBuilder:
        pid = kw.get("pid", self.pid)
        return self.line(f"Starting Zato `{version}` {component} `{name}` (pid: {pid})", **kw)

    def started(self, server: str, cluster: str, **kw: Any) -> LogBuilder:
        return self.line(f"Started `{server}@{cluster}` (pid: {kw.get('pid', self.pid)})", **kw)

    def ready(self, component: str, name: str, **kw: Any) -> LogBuilder:
        return self.line(f"{component} `{name}` ready (pid: {kw.get('pid', self.pid)})", **kw)

    def stopping(self, component: str, name: str, **kw: Any) -> LogBuilder:
        return self.line(f"Stopping Zato {component} `{name}` (pid: {kw.get('pid', self.pid)})", **kw)

    def stopped(self, component: str, name: str, **kw: Any) -> LogBuilder:
        return self.line(f"Stopped Zato {component} `{name}` (pid: {kw.get('pid', self.pid)})", **kw)

    def sync_internal(self, server: str, count: int = 412, size: str = "17.8 kB", **kw: Any) -> LogBuilder:
        self.line(f"Deploying and caching internal services ({server})", **kw)
        return self.line(f"Deployed and cached {count} internal services ({size}) ({server})", **kw)

    def boot_failed(self, reason: str = "Worker failed to boot.", **kw: Any) -> LogBuilder:
        return self.line(reason, level="ERROR", **kw)

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)

    def __str__(self) -> str:
        return self.text()

    def events(self) -> list[Any]:
        from harness.products.zato.logs import parse_log

        return parse_log(self.text())
