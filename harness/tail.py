"""Following a file on a host: the complete lines it gains after a byte offset, one command per read.

A gate that polls a log (a runbook's ``log:`` condition, the wait for a server back in the load balancer's
request log) reads only what the file gained since the last poll, not all of it every time: a load
balancer's log grows by a line per request. The bytes come base64-encoded so they arrive exact through any
transport's text stdout (a log in another encoding included), and the offset is counted in them. Only
complete lines are handed out; a line still being written waits for the newline that completes it.
"""

from __future__ import annotations

import base64

from harness.transports.base import Transport

#: on the host: file "$1" from byte "$2" (1-based) on, base64 (b64decode drops its line breaks); exit 3
#: when the file does not exist
_FROM = '[ -e "$1" ] || exit 3; tail -c +"$2" "$1" | base64'


def size(transport: Transport, path: str) -> int:
    """How many bytes ``path`` holds now (0 when it does not exist), without reading it over."""
    res = transport.run(["stat", "-c", "%s", path], timeout=30)
    return int(res.stdout) if res.ok and res.stdout.strip().isdigit() else 0


class Tail:
    """The complete lines ``path`` gains after byte ``offset``."""

    def __init__(self, transport: Transport, path: str, offset: int = 0) -> None:
        self.transport, self.path, self.offset = transport, path, offset
        self.partial = b""  # the line still being written, read again with what completes it

    def read(self) -> str | None:
        """The complete lines written since the last read ("" for none), or None when the file does not exist."""
        res = self.transport.run(["sh", "-c", _FROM, "from", self.path, str(self.offset + 1)], timeout=30)
        if res.exit_code == 3:
            return None
        new = base64.b64decode(res.check().stdout.strip())
        self.offset += len(new)
        data = self.partial + new
        cut = data.rfind(b"\n") + 1
        self.partial = data[cut:]
        return data[:cut].decode(errors="replace")


__all__ = ["Tail", "size"]
