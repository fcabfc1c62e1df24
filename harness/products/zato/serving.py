"""Is the Zato environment serving? Asked of the nodes, never of the journal or the log alone.

A component serves when its processes are alive (the pid in each of its pidfiles exists and is no zombie)
and its endpoint answers (``/zato/ping`` with ``ZATO_OK`` for servers); the environment serves when every
component does and the front door answers ``/zato/ping``. Log lines say what a component started as,
not that it still runs: a server SIGKILLed after its ready line leaves a log that says "Started".

- :func:`alive`: the liveness half, used by the skip checks of ``zato stop``/``zato start`` too (a
  dead component does not "already run the installed version").
- :class:`Verify` (``zato.verify``): the last step of every Zato procedure and of its rollback.
"""

from __future__ import annotations

from typing import Any

import requests

from harness.engine.actions import StepContext
from harness.environment import ComponentHandle, Environment
from harness.errors import GateTimeout, StepFailed, TransportError
from harness.products.zato import state
from harness.wait import wait_until

#: what each component answers when it is up (the readiness probe of `zato start`'s gate, and of verify)
PROBE_PATH = {"server": "/zato/ping", "web-admin": "/", "scheduler": "/", "load-balancer": "/zato-lb-alive"}


def http_ready(comp: ComponentHandle) -> bool:
    try:
        r = requests.get(comp.url.rstrip("/") + PROBE_PATH[comp.role], timeout=1)
    except requests.RequestException:
        return False
    return r.status_code == 200 and (comp.role != "server" or "ZATO_OK" in r.text)

__all__ = ["Verify", "alive", "problems"]

def pid_of(comp: ComponentHandle) -> int | None:
    """The pid in ``PATH/pidfile`` (a load balancer's: HAProxy's)."""
    return state.pidfile_pid(comp)


def alive(comp: ComponentHandle) -> bool:
    """The component's processes (the pid of each of its pidfiles: a load balancer's HAProxy and agent) are
    alive on its host."""
    return state.running_pids(comp) is not None


def _answers(url: str, expect: str | None = None) -> bool:
    try:
        r = requests.get(url, timeout=3, headers={"Connection": "close"})
    except requests.RequestException:
        return False
    return r.status_code == 200 and (expect is None or expect in r.text)


def problems(env: Environment) -> tuple[list[str], list[str]]:
    """``(dead, not_answering)``: components whose process is gone (that will not mend by waiting), and
    components or the front door that do not answer (yet)."""

    dead, silent = [], []
    for comp in env.components.values():
        if not alive(comp):
            dead.append(f"{comp.name}: not running (no live process for {' or '.join(state.pidfiles(comp))} on "
                        f"{comp.host.name})")
        elif not http_ready(comp):
            silent.append(f"{comp.name}: its process runs but {comp.url} does not answer")
    door = env.inventory.front_door
    if door and not _answers(door.rstrip("/") + "/zato/ping", "ZATO_OK"):
        silent.append(f"the front door {door} does not answer /zato/ping with ZATO_OK")
    return dead, silent


class Verify:
    """Every component alive and ready, the front door answering: else the step fails (and the run does
    not end in success). Read-only, never skipped."""

    def skip(self, ctx: StepContext) -> str | None:
        return None

    def run(self, ctx: StepContext) -> None:
        seen: dict[str, Any] = {}

        def serving() -> bool:
            dead, silent = problems(ctx.env)
            seen.update(dead=dead, not_answering=silent)
            if dead:  # a dead process does not come back by waiting
                raise StepFailed(ctx.step.id, "the environment is not serving: " + "; ".join(dead + silent))
            return not silent

        try:
            wait_until(serving, timeout=ctx.plan.ready_timeout, interval=0.2, what="every component answering")
        except (GateTimeout, TransportError) as exc:
            raise StepFailed(ctx.step.id, "the environment is not serving: "
                             + ("; ".join(seen.get("not_answering", [])) or str(exc))) from None
        finally:
            ctx.observation.update(seen)
        ctx.observation["serving"] = sorted(ctx.env.components)
