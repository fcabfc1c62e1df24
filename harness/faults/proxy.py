"""A TCP proxy in front of one host's ports (process backend), whose links can be cut or slowed on demand.

Hand-written (asyncio, stdlib only) because no maintained tool does "cut or slow the proxied links of
one host now, heal them later" from a test: toxiproxy needs its own server binary and HTTP API, and
iptables/tc need root and act on the whole machine's loopback. The process backend starts one proxy per
host when the stand-ins ask for it (``standins: {proxies: true}``): every documented port of the host
gets a front port (what the other hosts and the controller connect to) forwarding to the port the
product listens on.

Control: one line to the proxy's control port (127.0.0.1), one JSON line back::

    cut         drop every open connection and reset new ones until healed
    slow MS     hold every chunk MS milliseconds before forwarding it, each way
    heal        forward normally again (and no latency)
    status      {"cut": false, "delay_ms": 0, "open": 3, "ports": {"40001": 40002}}

Run as ``python -m harness.faults.proxy --control PORT --state FILE --map FRONT=BACK ...``; once every
port listens it writes ``FILE`` (``{"pid": …, "control": PORT, "ports": {…}}``), which is how the backend
knows it is up and the faults find it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ProxyState", "control", "main"]

LOOPBACK = "127.0.0.1"
CHUNK = 65536


@dataclass
class ProxyState:
    ports: dict[int, int]
    cut: bool = False
    delay: float = 0.0
    open: set[asyncio.StreamWriter] = field(default_factory=set)

    def status(self) -> dict[str, object]:
        return {"cut": self.cut, "delay_ms": round(self.delay * 1000), "open": len(self.open) // 2,
                "ports": {str(k): v for k, v in self.ports.items()}}

    def drop_all(self) -> None:
        for w in list(self.open):
            _abort(w)
        self.open.clear()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a reset (SO_LINGER 0), as a link that goes away does, not a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.close()


async def _pipe(state: ProxyState, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await src.read(CHUNK):
            if state.delay:
                await asyncio.sleep(state.delay)
            if state.cut:
                break
            dst.write(data)
            await dst.drain()
    if state.cut:
        _abort(dst)
    else:
        with contextlib.suppress(OSError, RuntimeError):
            dst.write_eof()


async def _serve(state: ProxyState, back: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    if state.cut:
        _abort(writer)
        return
    try:
        up_r, up_w = await asyncio.open_connection(LOOPBACK, back)
    except OSError:
        _abort(writer)
        return
    state.open.update((writer, up_w))
    try:
        await asyncio.gather(_pipe(state, reader, up_w), _pipe(state, up_r, writer))
    finally:
        for w in (writer, up_w):
            state.open.discard(w)
            w.close()


async def _control(state: ProxyState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    words = (await reader.readline()).decode().split()
    cmd = words[0] if words else ""
    if cmd == "cut":
        state.cut = True
        state.drop_all()
    elif cmd == "heal":
        state.cut, state.delay = False, 0.0
    elif cmd == "slow" and len(words) == 2 and words[1].isdigit():
        state.delay = int(words[1]) / 1000
    elif cmd != "status":
        writer.write(json.dumps({"error": f"unknown command {' '.join(words)!r}"}).encode() + b"\n")
        await writer.drain()
        writer.close()
        return
    writer.write(json.dumps(state.status()).encode() + b"\n")
    await writer.drain()
    writer.close()


async def _main(ports: dict[int, int], control_port: int, state_file: Path) -> None:
    state = ProxyState(ports)
    servers = [await asyncio.start_server(functools.partial(_serve, state, back), LOOPBACK, front)
               for front, back in ports.items()]
    ctl = await asyncio.start_server(lambda r, w: _control(state, r, w), LOOPBACK, control_port)
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "control": control_port,
                               "ports": {str(k): v for k, v in ports.items()}}))
    tmp.replace(state_file)  # whole or absent: the backend waits for it
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for srv in (*servers, ctl):
        srv.close()
    state.drop_all()


def control(port: int, command: str, *, timeout: float = 10.0) -> dict[str, object]:
    """Send one control line to the proxy whose control port is ``port``; its JSON answer (OSError if none)."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.sendall(command.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    answer: dict[str, object] = json.loads(data or b"{}")
    if "error" in answer:
        raise ValueError(str(answer["error"]))
    return answer


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m harness.faults.proxy", description=__doc__.split("\n")[0])
    ap.add_argument("--control", required=True, type=int, help="port on 127.0.0.1 for the control lines")
    ap.add_argument("--state", required=True, help="written once every port listens")
    ap.add_argument("--map", action="append", default=[], metavar="FRONT=BACK", help="a port to forward")
    args = ap.parse_args(argv)
    ports = {int(f): int(b) for f, _, b in (m.partition("=") for m in args.map)}
    asyncio.run(_main(ports, args.control, Path(args.state)))


if __name__ == "__main__":
    main()
