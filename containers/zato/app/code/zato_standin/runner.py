"""The life of one component process: log ``Starting``, boot, log the ready line, serve, stop cleanly.

``zato start`` runs ``python3 -m zato_standin.runner PATH`` detached. Every module of the package is
imported here, at start, so a later ``./update.sh`` cannot change what a running component executes.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from zato_standin import (
    __version__,
    component,
    hotdeploy,
    httpbase,
    internal,
    lb,
    logsetup,
    odb,
    server,
    simple,
    store,
    webadmin,
)
from zato_standin.runtime import Runtime

BOOTERS = {
    "server": server.boot,
    "web-admin": webadmin.boot,
    "scheduler": simple.boot,
    "load-balancer": lb.boot,
}


def ready_line(rt: Runtime) -> str:
    comp = rt.comp
    if comp.kind == "server":
        cluster = comp.config.get("stand_in", "cluster")
        return f"Started `{comp.name}@{cluster}` (pid: {rt.pid})"
    return f"{comp.ready_name} `{comp.name}` ready (pid: {rt.pid})"


def run(comp: component.Component, sync_internal: bool, stop_after: float | None = None,
        deploy_auto_from: str = "") -> int:
    log = logsetup.setup(comp.kind, comp.log_file)
    rt = Runtime(comp, log, sync_internal, deploy_auto_from)
    if stop_after is not None:  # `zato start --stop-after N`: the component stops itself after N seconds
        timer = threading.Timer(stop_after, rt.stop_requested.set)
        timer.daemon = True
        timer.start()

    def on_signal(signum: int, _frame: object) -> None:
        rt.stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    log.info("Starting Zato `%s` %s `%s` (pid: %d)", __version__, comp.kind, comp.name, rt.pid)
    try:
        servers = BOOTERS[comp.kind](rt)
    except Exception:  # boot failure: the traceback goes to the log, the process exits non-zero
        log.error("Worker failed to boot, %s `%s` did not start (pid: %d)\n%s",
                  comp.kind, comp.name, rt.pid, traceback.format_exc().rstrip())
        return 1
    if servers is None:
        return component.FAILED_TO_START
    if not rt.stop_requested.is_set():
        log.info("%s", ready_line(rt))
        while not rt.stop_requested.wait(0.5):
            pass
    log.info("Stopping Zato %s `%s` (pid: %d)", comp.kind, comp.name, rt.pid)
    # A real server takes a while to shut down after SIGTERM (gunicorn's graceful stop) and holds its
    # port meanwhile, while `zato stop` has already returned: the stand-in does the same.
    time.sleep(comp.config.getfloat("stand_in", "stop_seconds", fallback=0.0))
    for httpd in servers:
        httpbase.stop(httpd)
    for hook in rt.on_stop:
        try:
            hook()
        except Exception as exc:  # a failing hook must not keep the process from stopping
            log.warning("Stop hook failed, e:`%s`", exc)
    log.info("Stopped Zato %s `%s` (pid: %d)", comp.kind, comp.name, rt.pid)
    logging.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zato_standin.runner")
    parser.add_argument("path")
    parser.add_argument("--sync-internal", action="store_true")
    parser.add_argument("--stop-after", type=float, default=None)
    parser.add_argument("--deploy-auto-from", default="")
    args = parser.parse_args(argv)
    comp = component.load(Path(args.path).resolve())
    if comp is None:
        sys.stderr.write(f"Not a Zato component: `{args.path}`\n")
        return component.NOT_A_ZATO_COMPONENT
    return run(comp, args.sync_internal, args.stop_after, args.deploy_auto_from)


# imported for their side effect: loaded at start like every other module
assert internal and hotdeploy and odb and store

if __name__ == "__main__":
    sys.exit(main())
