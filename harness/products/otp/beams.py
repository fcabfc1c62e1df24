"""An application directory as the linter sees it: its ``.app`` spec and a digest per ``.beam``.

The digest covers the chunks ``beam_lib:md5/1`` covers (code, atoms, imports, exports, literals,
strings, funs, meta), so recompiling the same source with other options (``+debug_info``, another
source path) does not count as a change, while any change in code does.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError
from harness.products.otp.files import AppSpec, read_app

__all__ = ["AppDir", "beam_digest", "load_app_dir"]

_MD5_CHUNKS = (b"Atom", b"AtU8", b"Code", b"StrT", b"ImpT", b"ExpT", b"FunT", b"LitT", b"Meta")


def beam_digest(data: bytes) -> str:
    """MD5 over the code-relevant chunks of a BEAM file; raises ValueError for non-BEAM data."""
    if len(data) < 12 or data[:4] != b"FOR1" or data[8:12] != b"BEAM":
        raise ValueError("not a BEAM file")
    chunks: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack(">I", data[pos + 4:pos + 8])[0]
        chunks[cid] = data[pos + 8:pos + 8 + size]
        pos += 8 + ((size + 3) & ~3)
    h = hashlib.md5()
    for cid in _MD5_CHUNKS:
        if cid in chunks:
            h.update(cid + chunks[cid])
    return h.hexdigest()


@dataclass(frozen=True)
class AppDir:
    path: Path
    spec: AppSpec
    digests: dict[str, str]  # module -> digest, for every .beam in ebin

    @property
    def modules(self) -> list[str]:
        return self.spec.modules


def load_app_dir(path: str | Path, app: str | None = None) -> AppDir:
    """Read ``DIR/ebin/*.app`` (or ``DIR/*.app`` when DIR is the ebin) and digest its beams."""
    root = Path(path)
    ebin = root / "ebin" if (root / "ebin").is_dir() else root
    if not ebin.is_dir():
        raise ConfigError("application directory not found", file=str(root))
    apps = sorted(ebin.glob(f"{app}.app" if app else "*.app"))
    if len(apps) != 1:
        raise ConfigError(f"expected one .app file in {ebin}, found {len(apps)}", file=str(ebin),
                          hint="pass the application directory (the one holding ebin/)")
    digests = {}
    for beam in sorted(ebin.glob("*.beam")):
        try:
            digests[beam.stem] = beam_digest(beam.read_bytes())
        except ValueError:
            digests[beam.stem] = "badfile"
    return AppDir(root, read_app(apps[0]), digests)
