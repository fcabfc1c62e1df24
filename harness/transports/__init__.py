"""How commands and files reach a node: one small module per transport behind :class:`Transport`.

Transports are resolved lazily from :data:`TRANSPORTS` so that importing the harness does not import
the docker SDK or asyncssh.
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.transports.base import CommandResult, Transport

TRANSPORTS: dict[str, str] = {
    "local": "harness.transports.local:LocalTransport",
    "docker": "harness.transports.docker:DockerTransport",
    "ssh": "harness.transports.ssh:SshTransport",
}


def transport_class(name: str) -> type[Transport]:
    try:
        module_name, _, attr = TRANSPORTS[name].partition(":")
    except KeyError:
        from harness.errors import ConfigError

        raise ConfigError(f"unknown transport {name!r}",
                          hint=f"use one of: {', '.join(sorted(TRANSPORTS))}") from None
    cls: type[Transport] = getattr(importlib.import_module(module_name), attr)
    return cls


def make_transport(name: str, **kwargs: Any) -> Transport:
    return transport_class(name)(**kwargs)


def transport_for(spec: str, **options: Any) -> Transport:
    """A transport from a testinfra-style host spec: ``local``, ``docker://CONTAINER`` or
    ``ssh://USER@HOST:PORT``; ``options`` go to the SSH transport (known_hosts, identity, become)."""
    from harness.errors import ConfigError

    if spec == "local":
        return make_transport("local")
    scheme, sep, rest = spec.partition("://")
    if sep and scheme == "docker" and rest:
        return make_transport("docker", container=rest)
    if sep and scheme == "ssh" and rest:
        return make_transport("ssh", spec=spec, **options)
    raise ConfigError(f"unsupported transport {spec!r}",
                      hint="use `local`, `docker://CONTAINER` or `ssh://USER@HOST:PORT`")


__all__ = ["TRANSPORTS", "CommandResult", "Transport", "make_transport", "transport_class", "transport_for"]
