"""The Backend seam: a backend provides hosts; a product installs its stand-ins onto them.

A product's stand-in installer (:class:`harness.standins.Standin`) asks for hosts with :class:`HostSpec`
(a name, the image with its packages, the ports it will listen on, directories it shares with the
controller) and gets back :class:`Host` objects. It then installs and starts everything *through each
host's transport*, with paths from :meth:`Host.path`, addresses from :meth:`Host.peer` and URLs from
:meth:`Host.url` — so the same product code runs on every backend, and no product asks which
backend it is on::

    process   a directory per host on this machine + the local transport; ports picked free on
              127.0.0.1; shared directories are symlinks into the host's directory
    docker    a container per host on a labelled per-run network + docker exec; the documented
              ports, published on 127.0.0.1; shared directories are bind mounts

``root`` is the prefix of every absolute path on a host: a process host lives in
``STATE/hosts/NAME/``, a container has the whole filesystem to itself (``""``).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from harness.net import LOOPBACK
from harness.transports import Transport, transport_for

__all__ = ["Backend", "Host", "HostSpec", "Mount"]


@dataclass(frozen=True)
class Mount:
    """A controller directory that a host sees at ``target`` (an upstream repository, a shared database)."""

    source: Path
    target: str
    writable: bool = False


@dataclass(frozen=True)
class HostSpec:
    """What a product asks of a backend for one host of its environment."""

    name: str
    #: ``containers/IMAGE`` holds the packages the product's programs need on the host (docker backend)
    image: str
    #: the ports the product will listen on, as its documentation gives them (17010, 11223, 5672 …)
    ports: tuple[int, ...] = ()
    mounts: tuple[Mount, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    #: the product's own account on the host (``zato``): a backend that makes VM-like hosts creates it,
    #: with a sudo rule letting the login account ``sudo su - ACCOUNT`` as the runbooks do
    account: str | None = None


@dataclass
class Host:
    """A host as provisioned, and everything a product needs to install onto it."""

    name: str
    #: how the inventory reaches it: ``local``, ``docker://CONTAINER``, ``ssh://user@127.0.0.1:PORT``
    transport_spec: str
    #: prefix of every absolute path on the host (``""`` when the host has a filesystem of its own)
    root: str
    #: the address the product's programs listen on
    bind: str
    #: the address the environment's other hosts reach this one at
    address: str
    #: documented port -> the port the product listens on here
    ports: dict[int, int] = field(default_factory=dict)
    #: documented port -> the port on 127.0.0.1 the controller (probes, clients, the harness) connects to
    published: dict[int, int] = field(default_factory=dict)
    #: documented port -> the port the other hosts connect to, where it differs from ``ports`` (a fault
    #: proxy in front of the host: :mod:`harness.faults.proxy`)
    peer_ports: dict[int, int] = field(default_factory=dict)
    #: an interpreter on the host for the stand-ins' own (stdlib-only) programs
    python: str = "python3"
    _transport: Transport | None = field(default=None, repr=False)

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = transport_for(self.transport_spec)
        return self._transport

    def path(self, absolute: str) -> str:
        """Where the product's absolute path ``/opt/zato/current`` is on this host."""
        return f"{self.root}{absolute}" if self.root else absolute

    def listen(self, port: int) -> int:
        """The port to listen on for documented ``port``."""
        return self.ports[port]

    def peer(self, port: int) -> str:
        """``address:port`` at which the environment's other hosts reach documented ``port``."""
        return f"{self.address}:{self.peer_ports.get(port, self.ports[port])}"

    def url(self, port: int, scheme: str = "http") -> str:
        """The URL the controller reaches documented ``port`` at (always 127.0.0.1)."""
        return f"{scheme}://{LOOPBACK}:{self.published[port]}"

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None


class Backend(abc.ABC):
    NAME: ClassVar[str]
    #: hosts, and everything that runs on them, vanish at :meth:`teardown`: products need not stop
    #: their programs first
    EPHEMERAL: ClassVar[bool] = False

    def available(self) -> tuple[bool, str]:
        """``(True, "")`` when this backend can provision here, else ``(False, why)``."""
        return True, ""

    @abc.abstractmethod
    def provision(self, environment: str, state_dir: Path, hosts: Sequence[HostSpec]) -> list[Host]:
        """Create the hosts (all of them, or none: a failure removes what was made) and return them."""

    @abc.abstractmethod
    def planned(self, environment: str, state_dir: Path, hosts: Sequence[HostSpec]) -> list[Host]:
        """What :meth:`provision` would return, creating nothing (ports not known yet are 0)."""

    @abc.abstractmethod
    def teardown(self, environment: str, state_dir: Path) -> None:
        """Remove the hosts of ``environment``; idempotent."""

    def inventory_settings(self, state_dir: Path) -> dict[str, object]:
        """Top-level inventory fields the backend adds to what the product wrote (the SSH settings)."""
        return {}
