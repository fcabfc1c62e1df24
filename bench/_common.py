"""What the bench scripts share: which backends to measure on, and how a Zato update's time splits."""

from __future__ import annotations

import argparse
from typing import Any


def add_backend_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--backend", default="all", choices=("all", "process", "docker"))


def backends(choice: str) -> list[str]:
    """The backends asked for that can run here; a docker engine that cannot run is reported, not fatal."""
    out = []
    for backend in ("process", "docker"):
        if choice not in ("all", backend):
            continue
        if backend == "docker":
            from harness.backends.docker_engine import docker_available

            ok, why = docker_available()
            if not ok:
                print(f"docker: skipped ({why})")
                continue
        out.append(backend)
    return out


def zato_split(run: Any) -> dict[str, float]:
    """A finished Zato update (a :class:`harness.engine.runner.Run`) as the executor saw it: the code-update
    stage's wall time (every host at once, from the journal), the `zato stop`/`zato start` commands (whose
    stderr watch alone is 1.2 s a start), the old processes' exit the stop step waits out (`zato stop` returns
    at once; gunicorn's graceful stop is the product's time too), and the readiness gates (boot until
    `Started`, ping, back in the load balancer's rotation). Seconds each."""
    ts = [r["ts"] for r in run.journal_records() if r["event"] == "step"
          and r.get("action") in ("zato.git_pull", "zato.install")]
    obs = [run.observations.get(rec.step.id, {}) for rec in run.records.values()
           if rec.step.action in ("zato.stop", "zato.start")]
    return {"code_s": max(ts) - min(ts) if ts else 0.0,
            "commands_s": sum(o.get("command_s", 0.0) for o in obs),
            "exits_s": sum(o.get("stopped_after", 0.0) for o in obs),
            # a start awaits its gate beside its command (gate_early_s of it): only the rest is the gate's
            "gates_s": sum(o.get("gate_s", 0.0) - o.get("gate_early_s", 0.0) for o in obs)}
