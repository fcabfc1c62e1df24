"""Client of the master domain's patch service: what an operator does on Settings → System/Patch.

>>> client = PatchClient("http://127.0.0.1:8080", "admin", "secret")   # doctest: +SKIP
>>> client.upload(Path("fix.zip")); client.check().integral; client.apply(); client.delete()  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import requests

from harness.errors import RefusedError, TransportError
from harness.products.beam.result import PatchResult

__all__ = ["PatchClient", "PatchRefused"]


class PatchRefused(RefusedError):
    """The service refused (401/403/404/409/411/413/422); nothing was changed."""

    def __init__(self, http_status: int, error: str, detail: str) -> None:
        self.http_status, self.error, self.detail = http_status, error, detail
        super().__init__(f"patch service refused ({http_status} {error}): {detail}")


class PatchClient:
    def __init__(self, master_url: str, user: str, password: str, *, timeout: float = 120.0) -> None:
        self.master_url = master_url.rstrip("/")
        self.user, self.password, self.timeout = user, password, timeout
        self._token: str | None = None
        self.role: str | None = None

    def close(self) -> None:
        """Nothing to release: one HTTP connection per request (no pooled sockets left behind)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def login(self) -> str:
        body = self._send("POST", "/api/login", json={"user": self.user, "password": self.password}, auth=False)
        self._token, self.role = body["token"], body["role"]
        return str(self.role)

    def system(self) -> dict[str, Any]:
        return self._call("GET", "/api/system")  # type: ignore[no-any-return]

    def nodes(self) -> list[dict[str, Any]]:
        return self._call("GET", "/api/nodes")  # type: ignore[no-any-return]

    def upload(self, archive: Path | bytes, name: str | None = None) -> dict[str, Any]:
        """Upload a zip; returns its unpacked composition. Refused as a whole or stored."""
        data = archive if isinstance(archive, bytes) else Path(archive).read_bytes()
        params = {"name": name} if name else None
        return self._call("POST", "/api/patch", data=data, params=params,  # type: ignore[no-any-return]
                          headers={"Content-Type": "application/zip"})

    def composition(self) -> dict[str, Any]:
        return self._call("GET", "/api/patch")  # type: ignore[no-any-return]

    def check(self) -> PatchResult:
        return PatchResult.from_json(self._call("POST", "/api/patch/check"))

    def apply(self) -> PatchResult:
        return PatchResult.from_json(self._call("POST", "/api/patch/apply"))

    def delete(self) -> None:
        self._call("DELETE", "/api/patch")

    # -- plumbing -----------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kw: Any) -> Any:
        if self._token is None:
            self.login()
        try:
            return self._send(method, path, **kw)
        except PatchRefused as exc:
            if exc.http_status != 401:
                raise
            self.login()  # the service restarted and forgot the session
            return self._send(method, path, **kw)

    def _send(self, method: str, path: str, *, auth: bool = True, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", None) or {})
        if auth and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            resp = requests.request(method, self.master_url + path, headers=headers, timeout=self.timeout, **kw)
        except requests.RequestException as exc:
            raise TransportError(f"patch service {self.master_url}: {exc}") from exc
        if resp.status_code >= 400:
            try:
                body = resp.json()
            except ValueError:
                body = {"error": "http_error", "detail": resp.text[:500]}
            if resp.status_code >= 500:
                raise TransportError(f"patch service {self.master_url}{path}: {resp.status_code} {body}")
            raise PatchRefused(resp.status_code, str(body.get("error")), str(body.get("detail")))
        return resp.json() if resp.content else None
