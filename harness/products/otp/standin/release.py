"""The sample release of the OTP stand-in, built from source with ``erlc`` and ``systools``.

Sources are text under ``containers/otp/counter`` (nothing binary is checked in): an application
``counter`` with a supervised gen_server holding state, in versions

* ``1.0`` — state ``{state, N}``; module ``counter_gone``;
* ``1.1`` — state ``{state, N, History}``; ``code_change`` with ``{advanced, Extra}``; adds
  ``counter_util``, removes ``counter_gone``;
* ``1.2`` — ``restart_application`` (no soft upgrade: the state starts again).

Variants (``build_release(variant)``): ``main`` (1.0, 1.1, 1.2), ``restart_emulator`` (1.0, 1.1 whose
appup is ``[restart_emulator]``: the node restarts onto 1.1, needs heart) and ``after_restart`` (1.0, 1.1
with a hand-edited relup that has an instruction after ``restart_emulator``, which never runs).

An ``overlay`` directory (``VSN/*.erl``) replaces or adds modules of each version it names: another system
built the same way (a mutant's, beside the suites; nothing of it is shipped).

A build is cached per content hash (sources, variant, overlay, builder, OTP version) under
``$HARNESS_STATE_DIR/otp-builds`` (pytest sets ``HARNESS_STATE_DIR`` per xdist worker), behind a file
lock so concurrent callers build it once. One build takes ≈1–2 s; a cached one is free.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from harness import resources
from harness.errors import ConfigError, SetupFailed

__all__ = ["BUILD_TOOLS", "SOURCES", "VARIANTS", "Build", "build_release", "cache_dir", "erlang_available"]

SOURCES = resources.containers("otp")
NAME = "counter"
#: variant -> [(version, base version for its relup or None, relup given in the sources)]
VARIANTS: dict[str, list[tuple[str, str | None, bool]]] = {
    "main": [("1.0", None, False), ("1.1", "1.0", False), ("1.2", "1.1", False)],
    "restart_emulator": [("1.0", None, False), ("1.1", "1.0", False)],
    "after_restart": [("1.0", None, False), ("1.1", "1.0", True)],
}
_BUILDER_VERSION = "1"
#: what the controller needs to build the release (the hosts need ``erl`` and ``erl_call``)
BUILD_TOOLS = ("erl", "erlc", "escript")


def erlang_available() -> bool:
    """The controller can build the release and run nodes of its own (the process backend)."""
    return all(shutil.which(t) for t in (*BUILD_TOOLS, "erl_call"))


@dataclass(frozen=True)
class Build:
    """A built release: ``packages[vsn]`` is the tarball ``release_handler:unpack_release`` takes."""

    dir: Path
    name: str
    variant: str
    versions: tuple[str, ...]
    erts_vsn: str  # the emulator the release names (its .rel): every node must run this one

    def package(self, vsn: str) -> Path:
        if vsn not in self.versions:
            raise ConfigError(f"the {self.variant!r} sample release has no version {vsn!r}",
                              hint=f"use one of: {', '.join(self.versions)}")
        return self.dir / "rel" / vsn / f"{self.name}-{vsn}.tar.gz"

    @property
    def packages_dir(self) -> Path:
        return self.dir / "packages"


def cache_dir() -> Path:
    base = Path(os.environ.get("HARNESS_STATE_DIR", ".harness"))
    return (base / "otp-builds").resolve()


def _source_files(variant: str, overlay: Path | None = None) -> list[Path]:
    root = SOURCES / NAME
    files = [p for p in sorted(root.rglob("*")) if p.is_file()
             and (p.parts[len(root.parts)] != "variants" or p.parts[len(root.parts) + 1] == variant)]
    return [*files, SOURCES / "build_release.escript", *(sorted(overlay.glob("*/*.erl")) if overlay else [])]


@functools.cache
def _erts_version() -> str:
    """The controller's emulator version (asked once per process: ``erl`` takes ≈0.3 s to start)."""
    proc = subprocess.run(["erl", "-noshell", "-eval", 'io:format("~s", [erlang:system_info(version)]), halt().'],
                          capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise SetupFailed(f"cannot run erl: {proc.stderr.strip()}\nHint: install Debian erlang-base")
    return proc.stdout.strip()


def _key(variant: str, erts: str, overlay: Path | None) -> str:
    h = hashlib.sha256(f"{_BUILDER_VERSION}\0{variant}\0{erts}\0".encode())
    for p in _source_files(variant, overlay):
        name = p.relative_to(SOURCES) if p.is_relative_to(SOURCES) else Path("overlay", p.parent.name, p.name)
        h.update(str(name).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def build_release(variant: str = "main", cache: Path | None = None, overlay: Path | None = None) -> Build:
    """Build (or reuse) the sample release *variant* (with *overlay*'s modules, when given); raises SetupFailed
    with the compiler's output."""
    if variant not in VARIANTS:
        raise ConfigError(f"unknown sample release variant {variant!r}", field="options.variant",
                          hint=f"use one of: {', '.join(VARIANTS)}")
    erts = _erts_version()
    cache = cache or cache_dir()
    out = cache / f"{variant}{'-overlay' if overlay else ''}-{_key(variant, erts, overlay)}"
    versions = tuple(v for v, _, _ in VARIANTS[variant])
    build = Build(out, NAME, variant, versions, erts)
    if (out / "info.json").exists():
        return build
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock", timeout=300):
        if (out / "info.json").exists():
            return build
        tmp = out.with_name(out.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        _build_into(tmp, variant, overlay)
        (tmp / "info.json").write_text(json.dumps({"variant": variant, "versions": versions, "erts": erts}) + "\n")
        tmp.rename(out)
    return build


def _build_into(out: Path, variant: str, overlay: Path | None) -> None:
    src = SOURCES / NAME
    specs = []
    for vsn, base, relup_given in VARIANTS[variant]:
        ebin = out / "lib" / f"{NAME}-{vsn}" / "ebin"
        ebin.mkdir(parents=True)
        over = src / "variants" / variant / vsn
        dirs = (src / "common", src / vsn, over, *([overlay / vsn] if overlay else []))
        erls = {p.name: p for d in dirs if d.is_dir() for p in d.glob("*.erl")}
        _run(["erlc", "-o", str(ebin), *map(str, erls.values())], f"erlc {NAME}-{vsn}")
        shutil.copy(src / vsn / f"{NAME}.app.src", ebin / f"{NAME}.app")
        for d in (src / vsn, over):
            if (d / f"{NAME}.appup").exists():
                shutil.copy(d / f"{NAME}.appup", ebin / f"{NAME}.appup")
        if relup_given:
            rel_dir = out / "rel" / vsn
            rel_dir.mkdir(parents=True)
            shutil.copy(over / "relup", rel_dir / "relup")
        specs.append(vsn if base is None else f"{vsn}={base}{'+keep' if relup_given else ''}")
    _run(["escript", str(SOURCES / "build_release.escript"), str(out), NAME, *specs], "systools")
    (out / "packages").mkdir()
    for vsn, _, _ in VARIANTS[variant]:
        os.link(out / "rel" / vsn / f"{NAME}-{vsn}.tar.gz", out / "packages" / f"{NAME}-{vsn}.tar.gz")


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise SetupFailed(f"building the sample release failed at {what} (exit {proc.returncode}):\n"
                          f"{proc.stdout}{proc.stderr}")
