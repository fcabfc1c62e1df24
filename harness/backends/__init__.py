"""Backends provide hosts (:mod:`harness.backends.base`); products install their stand-ins onto them.

``process`` (default: directories and local processes on this machine) and ``docker`` (containers on a
per-run network, through testcontainers). Resolved by name from :data:`BACKENDS`, imported on first use
so that the process backend never imports the docker SDK.
"""

from __future__ import annotations

from harness.backends.base import Backend, Host, HostSpec, Mount
from harness.errors import ConfigError
from harness.registry import load

BACKENDS: dict[str, str] = {
    "process": "harness.backends.process:ProcessBackend",
    "docker": "harness.backends.docker:DockerBackend",
}


def backend(name: str, *, proxies: bool = False, ssh: bool = False) -> Backend:
    """The backend ``name``; ``proxies``: a fault proxy in front of every host's ports (process backend);
    ``ssh``: its hosts are reached only over SSH (the docker backend's sshd mode)."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}", field="standins.backend",
                          hint=f"use one of: {', '.join(BACKENDS)}")
    cls = load(BACKENDS[name])
    if ssh and not getattr(cls, "SSH_CAPABLE", False):
        raise ConfigError(f"the {name} backend cannot reach its hosts over SSH", field="standins.ssh",
                          hint="use --backend docker with --ssh")
    if ssh:
        obj: Backend = cls(ssh=True)
    elif proxies and name == "process":
        obj = cls(proxies=True)
    else:
        obj = cls()
    return obj


__all__ = ["BACKENDS", "Backend", "Host", "HostSpec", "Mount", "backend"]
