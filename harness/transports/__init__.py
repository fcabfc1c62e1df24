"""How commands and files reach a node: one small module per transport behind :class:`Transport`.

Transports are resolved lazily from :data:`TRANSPORTS` so that importing the harness does not import
the docker SDK or paramiko.
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.transports.base import CommandResult, Transport

TRANSPORTS: dict[str, str] = {
    "local": "harness.transports.local:LocalTransport",
    "docker": "harness.transports.docker:DockerTransport",
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


def transport_for(spec: str) -> Transport:
    """A transport from a testinfra-style host spec: ``local`` or ``docker://CONTAINER``."""
    from harness.errors import ConfigError

    if spec == "local":
        return make_transport("local")
    scheme, sep, rest = spec.partition("://")
    if sep and scheme == "docker" and rest:
        return make_transport("docker", container=rest)
    raise ConfigError(f"unsupported transport {spec!r}", hint="use `local` or `docker://CONTAINER`")


__all__ = ["TRANSPORTS", "CommandResult", "Transport", "make_transport", "transport_class", "transport_for"]
