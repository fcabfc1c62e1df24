"""A Canopsis API client that does not lose events during maintenance (reference §2.2, §2.6).

The API does not buffer calls while it is stopped; a refused connection, a reset, a 502/503/504 or a
timeout *before the request was sent* are retried with exponential backoff (tenacity), bounded by
``max_wait`` seconds. Events carry an ``event_id``, so the stand-in's engines count a retried event that
had in fact been accepted only once. Other 4xx answers are the caller's mistake and are raised at once.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

RETRY_STATUS = {502, 503, 504}


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        self.status, self.body = status, body
        super().__init__(f"HTTP {status}: {body}")


class Unavailable(Exception):
    """The API did not answer, or answered that it cannot take the call now: retry."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (Unavailable, requests.ConnectionError, requests.Timeout))


@dataclass
class CanopsisApi:
    url: str
    max_wait: float = 120.0
    timeout: float = 10.0
    #: every attempt that failed and was retried: (time, method path, reason) — how long the API was away
    refused: list[tuple[float, str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.session = requests.Session()

    def _call(self, method: str, path: str, body: Any = None) -> requests.Response:
        try:
            r = self.session.request(method, self.url.rstrip("/") + path, json=body, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            self.refused.append((time.time(), f"{method} {path}", type(exc).__name__))
            self.session.close()  # a stale keep-alive socket to the old process
            raise
        if r.status_code in RETRY_STATUS:
            self.refused.append((time.time(), f"{method} {path}", str(r.status_code)))
            raise Unavailable(f"HTTP {r.status_code}")
        return r

    def request(self, method: str, path: str, body: Any = None, *, retry: bool = True) -> Any:
        if not retry:
            r = self._call(method, path, body)
        else:
            for attempt in Retrying(retry=retry_if_exception(_retryable), reraise=True,
                                    wait=wait_exponential(multiplier=0.05, max=2.0),
                                    stop=stop_after_delay(self.max_wait)):
                with attempt:
                    r = self._call(method, path, body)
        if r.status_code >= 400:
            raise ApiError(r.status_code, _body(r))
        return _body(r)

    # --- the calls the harness makes -------------------------------------------------------------
    def app_info(self, *, retry: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = self.request("GET", "/api/v4/app-info", retry=retry)
        return data

    def send_events(self, events: list[dict[str, Any]]) -> list[str]:
        for ev in events:
            ev.setdefault("event_id", str(uuid.uuid4()))
        data = self.request("POST", "/api/v4/event", events)
        return list(data.get("sent_events", []))

    def broadcast(self, message: str, *, start: float, end: float, color: str = "#e65100") -> dict[str, Any]:
        body = {"message": message, "color": color, "start": int(start), "end": int(end)}
        data: dict[str, Any] = self.request("POST", "/api/v4/broadcast-message", body)
        return data

    def broadcasts(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/api/v4/broadcast-message").get("data", []))

    def active_broadcasts(self) -> list[dict[str, Any]]:
        return list(self.request("GET", "/api/v4/active-broadcast-message"))

    def answers(self) -> bool:
        try:
            self.app_info()
        except (requests.RequestException, Unavailable, ApiError):
            return False
        return True


def _body(r: requests.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return r.text


def check_event(i: int, prefix: str, *, state: int = 1, entities: int = 50) -> dict[str, Any]:
    """A valid check event with a unique, prefixed ``event_id`` (what the suites count)."""
    return {"event_id": f"{prefix}{i:07d}", "connector": "harness", "connector_name": "harness-probe",
            "source_type": "resource", "event_type": "check", "component": f"comp{i % entities}",
            "resource": f"res{i % (entities * 4)}", "state": state, "output": f"probe {i}"}
