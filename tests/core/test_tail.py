"""harness.tail on this machine (local transport): a follower hands out complete lines only, counts its
offset in bytes whatever the encoding, and tells a missing file from an empty read."""

from __future__ import annotations

from pathlib import Path

from harness.tail import Tail, size
from harness.transports.local import LocalTransport


def test_complete_lines_from_a_byte_offset_whatever_their_bytes(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    t = Tail(LocalTransport(), str(log))
    assert t.read() is None and size(LocalTransport(), str(log)) == 0
    log.write_bytes(b"old \xe9\xff\n")
    t = Tail(LocalTransport(), str(log), size(LocalTransport(), str(log)))
    assert t.offset == 7 and t.read() == ""
    with log.open("ab") as f:
        f.write(b"listen")
    assert t.read() == "" and t.partial == b"listen"  # no line yet
    with log.open("ab") as f:
        f.write(b"ing failed\n\xe9 two\nthr")
    assert t.read() == "listening failed\n\ufffd two\n" and t.partial == b"thr"
    assert t.offset == log.stat().st_size
