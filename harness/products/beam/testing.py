"""Helpers for tests and suites of the hot patch (public, like ``structlog.testing``).

* :func:`variant` writes a changed copy of a stand-in module (new md5, same behaviour) to compile.
* :func:`zip_bytes` builds archives with crafted names, modes and sizes: the hostile ones.
* :func:`snapshot` records every node's loaded md5s and installed files, to prove nothing changed.
"""

from __future__ import annotations

import io
import json
import re
import stat
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.products.beam.agent import AgentClient
from harness.products.beam.archive import MANIFEST_NAME

__all__ = ["STANDIN_MODULES", "manifest", "snapshot", "variant", "zip_bytes"]

STANDIN_MODULES = ("core_util", "core_counter", "core_report", "billing_calc", "billing_srv", "gw_legacy",
                   "patch_agent")


def variant(source: Path, out_dir: Path, tag: str, *, on_load_error: bool = False) -> Path:
    """A copy of ``source`` with an extra exported ``patch_tag/0`` returning ``tag`` (so a new md5).

    ``on_load_error=True`` adds an ``-on_load`` function that fails: ``code:load_binary`` then
    returns ``{error,on_load_failure}`` and the old code stays (status error).
    """
    text = source.read_text()
    extra = "-export([patch_tag/0]).\n"
    tail = f'\npatch_tag() -> "{tag}".\n'
    if on_load_error:
        extra += "-on_load(patch_refuse/0).\n"
        tail += "patch_refuse() -> {error, refused_by_patch_test}.\n"
    text = re.sub(r"^(-module\([a-z_0-9]+\)\.\n)", lambda m: m.group(1) + extra, text, count=1, flags=re.MULTILINE)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / source.name
    out.write_text(text + tail)
    return out


def manifest(version: str = "2.7.1", **extra: Any) -> bytes:
    return json.dumps({"format": 1, "system_version": version, **extra}).encode()


def zip_bytes(entries: Iterable[tuple[str, bytes] | zipfile.ZipInfo | tuple[zipfile.ZipInfo, bytes]], *,
              version: str | None = "2.7.1", compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``(name, data)`` pairs (or ``(ZipInfo, data)`` for crafted modes), plus a manifest
    for ``version`` unless it is None. Duplicate names are written as given (zipfile warns)."""
    import warnings

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": exactly what a hostile test wants
        with zipfile.ZipFile(buf, "w", compression) as zf:
            if version is not None:
                zf.writestr(MANIFEST_NAME, manifest(version))
            for entry in entries:
                if isinstance(entry, tuple):
                    name, data = entry
                    zf.writestr(name, data)
                else:
                    zf.writestr(entry, b"")
    return buf.getvalue()


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def snapshot(agents: Sequence[AgentClient], modules: Sequence[str] = STANDIN_MODULES) -> dict[str, Any]:
    """Per node: loaded md5 of ``modules`` and the md5 of every file under ``ROOT/lib``, as the node's
    agent reads them (so it works on every backend, the node's disk need not be the harness's)."""
    out: dict[str, Any] = {}
    for a in agents:
        out[a.info()["node"]] = {"md5": a.md5s(list(modules)), "files": a.files()}
    return out
