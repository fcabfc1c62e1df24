"""What the bench scripts share: which backends to measure on."""

from __future__ import annotations

import argparse


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
