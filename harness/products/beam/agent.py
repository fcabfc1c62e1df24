"""Client of the patch agent that runs inside every node (``containers/beam/apps/patch_agent``).

The agent listens on 127.0.0.1 only and speaks ``{packet,4}`` frames, one external term each way
(:mod:`harness.products.beam.etf`). A request on a master node's agent can be fanned out to the
whole domain with :meth:`AgentClient.domain`. Not thread-safe: one client per thread.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from harness import readonly
from harness.errors import TransportError
from harness.products.beam.etf import Atom, decode, encode, plain

__all__ = ["AgentClient", "AgentError", "Item"]

Item = tuple[str, bytes]
"""One module of a patch: (archive path ``App/ebin/Mod.beam``, file bytes)."""


class AgentError(TransportError):
    """The agent answered ``{error, Text}``: the request crashed on the node."""


#: the agent's requests that only read the node (``domain`` is judged by the request it forwards)
READS = frozenset({"info", "state", "check", "md5s", "files", "capture", "system_libraries"})


def _op(request: Any) -> str:
    op = request[0] if isinstance(request, tuple) and request else request
    if op == "domain" and isinstance(request, tuple) and len(request) == 2:
        return _op(request[1])
    return str(op)


@dataclass
class AgentClient:
    host: str
    port: int
    timeout: float = 60.0
    name: str = ""

    @classmethod
    def parse(cls, address: str, **kw: Any) -> AgentClient:
        host, _, port = address.rpartition(":")
        return cls(host or "127.0.0.1", int(port), **kw)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"AgentClient({self.name or self.address})"

    # -- wire ---------------------------------------------------------------------------------
    def call(self, request: Any) -> Any:
        """Send one request term; return the decoded result (raw atoms/bytes). A request that could change
        the node is refused first where read-only is enforced (preflight, a reviewed plan's facts)."""
        op = _op(request)
        if op not in READS:
            readonly.refuse(f"patch agent {self.name or self.address}", f"the {op} request")
        payload = encode(request)
        try:
            # One connection per request: loopback connects cost ~0.1 ms and nothing lingers.
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
                sock.sendall(struct.pack(">I", len(payload)) + payload)
                (size,) = struct.unpack(">I", self._recv(sock, 4))
                reply = decode(self._recv(sock, size))
        except OSError as exc:
            raise TransportError(f"patch agent {self.address}: {exc}") from exc
        if isinstance(reply, tuple) and len(reply) == 2 and reply[0] == "ok":
            return reply[1]
        raise AgentError(f"patch agent {self.address}: {plain(reply)}")

    @staticmethod
    def _recv(sock: socket.socket, n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = sock.recv(min(left, 1 << 20))
            if not chunk:
                raise ConnectionError("connection closed by the agent")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        """Nothing to release (one connection per request); kept for ``with`` blocks."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return plain(self.call(Atom("info")))  # type: ignore[no-any-return]

    def state(self) -> dict[str, Any]:
        """The long-lived processes: ``{name: {"pid": "<0.93.0>", "value": N}}``."""
        return plain(self.call(Atom("state")))  # type: ignore[no-any-return]

    def bump(self) -> dict[str, int]:
        return plain(self.call(Atom("bump")))  # type: ignore[no-any-return]

    def check(self, items: Sequence[Item]) -> dict[str, Any]:
        return plain(self.call((Atom("check"), list(items))))  # type: ignore[no-any-return]

    def apply(self, name: str, items: Sequence[Item]) -> dict[str, Any]:
        return plain(self.call((Atom("apply"), name, list(items))))  # type: ignore[no-any-return]

    def md5s(self, modules: Sequence[str]) -> dict[str, str]:
        """``{module: md5hex | "not_loaded"}`` as loaded right now."""
        return plain(self.call((Atom("md5s"), list(modules))))  # type: ignore[no-any-return]

    def files(self) -> dict[str, str]:
        """Every file under the node's ``ROOT/lib``: ``{relative path: md5 of its bytes}``."""
        return plain(self.call(Atom("files")))  # type: ignore[no-any-return]

    def capture(self, paths: Sequence[str]) -> list[dict[str, Any]]:
        return plain(self.call((Atom("capture"), list(paths))))  # type: ignore[no-any-return]

    def restore(self, images: Sequence[tuple[str, bool, str | None, bytes | None]]) -> dict[str, Any]:
        wire = [(p, loaded, md5, disk if disk is not None else Atom("none")) for p, loaded, md5, disk in images]
        return plain(self.call((Atom("restore"), wire)))  # type: ignore[no-any-return]

    def system_libraries(self, modules: Sequence[str]) -> list[str]:
        return plain(self.call((Atom("system_libraries"), list(modules))))  # type: ignore[no-any-return]

    def domain(self, request: Any) -> list[dict[str, Any]]:
        """Run ``request`` on every node of the domain (master agent only); one entry per node."""
        return plain(self.call((Atom("domain"), request)))  # type: ignore[no-any-return]
