"""Waiting for something to become true, in one place: :func:`wait_until` and readiness conditions.

Every wait in the harness (a component booting, a port opening, a log line appearing, a broker
accepting connections) goes through :func:`wait_until`, which polls with tenacity under a deadline and,
when time runs out, raises one error that says what was awaited, for how long, what was last seen and
how to look further (testcontainers' wait strategies, as objects). A condition is any callable that
returns a true value when done (the value is returned) or a false one to go on; :class:`Condition`
subclasses add a description::

    wait_until(PortOpen("127.0.0.1", 17010), timeout=30)
    pid = wait_until(lambda: read_pidfile(path), timeout=5, what="the pidfile", hint="check the log")
"""

from __future__ import annotations

import abc
import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import tenacity

from harness.errors import GateTimeout, HarnessError

if TYPE_CHECKING:
    from harness.transports.base import Transport

__all__ = ["CommandSucceeds", "Condition", "HttpAnswers", "LogMatches", "PortOpen", "WaitStopped", "stop_on",
           "wait_until"]

T = TypeVar("T")

#: set in a thread that waits alongside other work (a step's gate beside its action): once the event is set,
#: every :func:`wait_until` in that thread raises :class:`WaitStopped` at its next poll
_STOP: ContextVar[threading.Event | None] = ContextVar("harness_wait_stop", default=None)


class WaitStopped(HarnessError):
    """A wait ended because the work it waited alongside failed (:func:`stop_on`)."""


@contextlib.contextmanager
def stop_on(event: threading.Event) -> Iterator[None]:
    """Within this block, in this thread, :func:`wait_until` gives up (raising :class:`WaitStopped`) once
    ``event`` is set. A context variable, not an argument: gates are the products' code, and every wait
    they make stops without each of them being told."""
    token = _STOP.set(event)
    try:
        yield
    finally:
        _STOP.reset(token)


class Condition(abc.ABC):
    """A readiness check: ``check()`` is true when ready; ``last`` says what it saw the last time."""

    last: str = ""

    @abc.abstractmethod
    def check(self) -> Any: ...

    @abc.abstractmethod
    def describe(self) -> str: ...

    def __call__(self) -> Any:
        return self.check()


def wait_until(condition: Callable[[], T], *, timeout: float, interval: float = 0.05, what: str | None = None,
               hint: str | None = None, error: type[HarnessError] = GateTimeout,
               details: Callable[[], str] | None = None) -> T:
    """Poll ``condition`` every ``interval`` seconds until it returns a true value (returned) or
    ``timeout`` seconds have passed (raises ``error`` naming ``what``, the last observation, ``details()``
    such as a log tail, and ``hint``). Exceptions from the condition propagate at once: a boot failure
    found in a log is not worth waiting for."""
    label = what or (condition.describe() if isinstance(condition, Condition) else "the condition")
    halt = _STOP.get()
    stop: Any = tenacity.stop_after_delay(timeout)
    sleep: Callable[[float], None] = time.sleep
    if halt is not None:  # tenacity's own: checked after each poll; the sleep between polls ends when it is set
        stop = stop | tenacity.stop_when_event_set(halt)
        sleep = halt.wait  # type: ignore[assignment]  # returns a bool, which tenacity ignores
    retrying = tenacity.Retrying(stop=stop, wait=tenacity.wait_fixed(interval), sleep=sleep,
                                 retry=tenacity.retry_if_result(lambda value: not value), reraise=True)
    try:
        return retrying(condition)
    except tenacity.RetryError:
        if halt is not None and halt.is_set():
            raise WaitStopped(f"{label}: no longer awaited (what it waited alongside failed)") from None
        last = getattr(condition, "last", "")
        text = f"{label} not ready after {timeout:g}s" + (f" (last: {last})" if last else "")
        if details is not None:
            text += "\n" + details()
        if hint:
            text += f"\nHint: {hint}"
        raise error(text) from None


@dataclass
class PortOpen(Condition):
    """Something accepts TCP connections on host:port."""

    host: str
    port: int

    def check(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError as exc:
            self.last = f"{type(exc).__name__}: {exc}"
            return False

    def describe(self) -> str:
        return f"tcp {self.host}:{self.port}"


@dataclass
class HttpAnswers(Condition):
    """``GET url`` answers ``status`` (and its body contains ``contains``)."""

    url: str
    status: int = 200
    contains: str | None = None
    timeout: float = 1.0

    def check(self) -> bool:
        import requests

        try:
            r = requests.get(self.url, timeout=self.timeout, headers={"Connection": "close"})
        except requests.RequestException as exc:
            self.last = type(exc).__name__
            return False
        self.last = f"HTTP {r.status_code} {r.text[:60]!r}"
        return r.status_code == self.status and (self.contains is None or self.contains in r.text)

    def describe(self) -> str:
        return f"GET {self.url} -> {self.status}" + (f" containing {self.contains!r}" if self.contains else "")


@dataclass
class LogMatches(Condition):
    """A line matching ``pattern`` appears in ``path`` on a node, after byte ``offset``; ``check()``
    returns the match."""

    transport: Transport
    path: str
    pattern: str
    offset: int = 0

    def check(self) -> re.Match[str] | None:
        try:
            text = self.transport.get(self.path).decode(errors="replace")[self.offset:]
        except FileNotFoundError:
            self.last = f"{self.path} does not exist yet"
            return None
        self.last = (text.splitlines() or ["(empty)"])[-1][:120]
        return re.search(self.pattern, text, re.MULTILINE)

    def describe(self) -> str:
        return f"/{self.pattern}/ in {self.transport.target}{self.path}"


@dataclass
class CommandSucceeds(Condition):
    """``argv`` exits 0 on a node."""

    transport: Transport
    argv: Sequence[str]
    timeout: float = 30.0

    def check(self) -> bool:
        res = self.transport.run(self.argv, timeout=self.timeout)
        self.last = f"exit {res.exit_code} {(res.stderr or res.stdout).strip()[-80:]!r}"
        return res.ok

    def describe(self) -> str:
        return f"`{' '.join(self.argv)}` on {self.transport.target}"
