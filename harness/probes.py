"""Traffic through the product's front door during a run, recording every request's time and outcome.

The loop is bounded twice (``max_seconds`` and ``max_requests``) and stops by itself; it only ever
talks to the URL it is given (127.0.0.1 or a project container's published port).

Each sample says which server answered (``served_by``, when the product names it) and, once joined with
what the nodes recorded (:meth:`ProbeResult.attributed`: a product reads each server's own log of its
starts, stops and versions), which version that server ran: requests of a rolling window are then judged
by the version that served them (:meth:`ProbeResult.by_version`).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import requests


@dataclass(frozen=True)
class Sample:
    start: float  # wall clock (time.time()), comparable with node log timestamps
    duration: float
    ok: bool
    status: int | None
    served_by: str | None
    error: str | None
    #: the version of the server that answered, joined in afterwards from the nodes' records (None: not
    #: joined, no server named, or the server's records cannot tell)
    version: str | None = None
    #: this request's own id, sent in its query string when the probe marks its requests (``mark``): what
    #: finds it again in the front door's own request log
    request: str | None = None

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass
class ProbeResult:
    samples: list[Sample] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return len(self.samples)

    @property
    def failed(self) -> list[Sample]:
        return [s for s in self.samples if not s.ok]

    def served_by(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.samples:
            if s.served_by:
                out[s.served_by] = out.get(s.served_by, 0) + 1
        return out

    def within(self, start: float, end: float) -> ProbeResult:
        """The samples sent inside ``[start, end]`` (wall clock)."""
        return ProbeResult([s for s in self.samples if start <= s.start <= end])

    def served(self, server_of: dict[str, str]) -> ProbeResult:
        """Every sample no answer named a server for, with the server ``server_of`` (request id -> server, as
        the front door logged it) gives its request."""
        return ProbeResult([replace(s, served_by=server_of.get(s.request or "")) if not s.served_by and s.request
                            else s for s in self.samples])

    def attributed(self, version_of: Callable[[Sample], str | None]) -> ProbeResult:
        """Every sample with ``version`` set by ``version_of`` (which server version served it)."""
        return ProbeResult([replace(s, version=version_of(s)) for s in self.samples])

    def by_version(self) -> dict[str, dict[str, int]]:
        """``{version: {"ok": n, "failed": n}}``; ``"unknown"`` for samples no version was joined to."""
        out: dict[str, dict[str, int]] = {}
        for s in self.samples:
            counts = out.setdefault(s.version or "unknown", {"ok": 0, "failed": 0})
            counts["ok" if s.ok else "failed"] += 1
        return out

    def write(self, path: Path) -> None:
        """Keep every sample in ``path`` (JSON lines; what ``harness report`` overlays on the timeline)."""
        path.write_text("".join(json.dumps(asdict(s), sort_keys=True) + "\n" for s in self.samples))

    @classmethod
    def read(cls, path: Path) -> ProbeResult:
        """The samples :meth:`write` kept; an empty result when the run had no probe."""
        if not path.exists():
            return cls()
        return cls([Sample(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()])

    def failed_within(self, windows: list[tuple[float, float]], slack: float = 0.1) -> list[Sample]:
        """The failed samples that overlap one of ``windows`` (wall clock), widened by ``slack`` seconds each
        side: a node's log and the probe's clock are read apart, and a request sent just before a stop is
        cut by it."""
        return [s for s in self.failed if any(s.start <= b + slack and s.end >= a - slack for a, b in windows)]

    def outage_windows(self) -> list[tuple[float, float]]:
        """Spans of consecutive failures, as (first failed start, last failed end)."""
        windows: list[tuple[float, float]] = []
        cur: tuple[float, float] | None = None
        for s in self.samples:
            if not s.ok:
                cur = (cur[0] if cur else s.start, s.start + s.duration)
            elif cur:
                windows.append(cur)
                cur = None
        if cur:
            windows.append(cur)
        return windows


def marked(url: str, mark: str, request: str) -> str:
    """``url`` with ``mark=request`` added to its query string."""
    return f"{url}{'&' if '?' in url else '?'}{mark}={request}"


class HttpProbe:
    """GETs ``url`` every ``interval`` seconds on a fresh connection (no keep-alive hiding a failure); a good
    answer is a 200 holding ``expect``. A product whose servers name themselves in a response header gives
    its name (``served_by_header``): each sample's ``served_by``.

    With ``mark`` (a query parameter name), each request carries its own id (``?MARK=TOKEN-N``, kept in its
    sample's ``request``), so a front door that logs requests (HAProxy's ``option httplog``) says which
    server it sent each one to: :meth:`ProbeResult.served` joins that in."""

    def __init__(self, url: str, *, expect: str = "", interval: float = 0.01, timeout: float = 2.0,
                 max_seconds: float = 600.0, max_requests: int = 100_000, mark: str | None = None,
                 served_by_header: str | None = None) -> None:
        self.url, self.expect, self.interval, self.timeout = url, expect, interval, timeout
        self.max_seconds, self.max_requests, self.mark = max_seconds, max_requests, mark
        self.served_by_header = served_by_header
        self._token = uuid.uuid4().hex[:12]
        self.result = ProbeResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="http-probe", daemon=True)

    def _once(self) -> Sample:
        request = f"{self._token}-{self.result.sent}" if self.mark else None
        url = marked(self.url, self.mark, request) if self.mark and request else self.url
        t0, m0 = time.time(), time.monotonic()
        try:
            r = requests.get(url, timeout=self.timeout, headers={"Connection": "close"})
            ok = r.status_code == 200 and self.expect in r.text
            by = r.headers.get(self.served_by_header) if self.served_by_header else None
            return Sample(t0, time.monotonic() - m0, ok, r.status_code, by,
                          None if ok else f"HTTP {r.status_code}: {r.text[:80]!r}", request=request)
        except requests.RequestException as exc:
            return Sample(t0, time.monotonic() - m0, False, None, None, type(exc).__name__, request=request)

    def _loop(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline and self.result.sent < self.max_requests:
            self.result.samples.append(self._once())
            self._stop.wait(self.interval)

    def start(self) -> HttpProbe:
        self._thread.start()
        return self

    def stop(self) -> ProbeResult:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 5)
        return self.result

    def __enter__(self) -> HttpProbe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
