"""Web-admin and scheduler stand-ins: ``GET /`` answers 200 with an empty body (reference §1.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zato_standin import httpbase

if TYPE_CHECKING:
    from zato_standin.runtime import Runtime


def boot(rt: Runtime) -> list[httpbase.GracefulHTTPServer] | None:
    comp = rt.comp
    if rt.sleep(comp.config.getfloat("stand_in", "boot_seconds", fallback=0.1)):
        return []
    try:
        httpd = httpbase.GracefulHTTPServer((comp.host, comp.port), httpbase.EmptyOKHandler)
    except OSError as exc:
        rt.log.error("Could not bind to %s:%d, e:`%s` (pid: %d)", comp.host, comp.port, exc, rt.pid)
        return None
    httpbase.serve(httpd)
    return [httpd]
