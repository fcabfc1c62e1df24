"""Patch archives: build one (``harness patch build``) and vet an uploaded one.

Layout of an archive (the layout of the system's ``lib`` directory, without versions)::

    patch-manifest.json          {"format": 1, "system_version": "2.7.1", "name": ..., "modules": [...]}
    <app>/ebin/<module>.beam     one per module

Vetting refuses the whole archive (:class:`ArchiveRefused`, nothing stored, nothing loaded) for
anything that is not a well-formed zip of regular files under relative paths: traversal, absolute
paths, symlinks, bombs, duplicates, corrupt or empty zips, a missing manifest, system libraries.
What remains is judged per module by each node's agent (not_beam, wrong_path, ...).
Stdlib only: the master's patch service imports it.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from harness.errors import ConfigError, RefusedError

__all__ = [
    "MANIFEST_NAME",
    "MAX_ARCHIVE_BYTES",
    "ArchiveRefused",
    "Entry",
    "PatchArchive",
    "beam_module_name",
    "build_patch",
    "inspect_archive",
    "system_library_modules",
]

MANIFEST_NAME = "patch-manifest.json"
MAX_ARCHIVE_BYTES = 10 * 1024 * 1024        # the runbook's limit on the uploaded zip
MAX_TOTAL_UNCOMPRESSED = 50 * 1024 * 1024   # declared sizes, summed
MAX_RATIO = 100                             # per entry, above MIN_RATIO_SIZE
MIN_RATIO_SIZE = 1024 * 1024
MAX_ENTRIES = 2000
_LAYOUT = re.compile(r"^[a-z][A-Za-z0-9_]*/ebin/[a-z][A-Za-z0-9_]*\.beam$")


class ArchiveRefused(RefusedError):
    """The archive is refused as a whole; ``reason`` is a stable code (``zip_bomb``, ``symlink`` ...)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"patch archive refused ({reason}): {detail}")


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    compressed_size: int
    kind: str  # manifest | beam | other

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "compressed_size": self.compressed_size, "kind": self.kind}


@dataclass
class PatchArchive:
    manifest: dict[str, Any]
    entries: list[Entry]
    files: dict[str, bytes] = field(repr=False)
    sha256: str = ""
    size: int = 0

    @property
    def system_version(self) -> str:
        return str(self.manifest["system_version"])

    @property
    def name(self) -> str:
        return str(self.manifest.get("name") or f"patch-{self.sha256[:12]}")

    @property
    def items(self) -> list[tuple[str, bytes]]:
        """Every file but the manifest, for the agents to judge (path, bytes)."""
        return [(p, b) for p, b in self.files.items() if p != MANIFEST_NAME]

    def module_names(self) -> set[str]:
        """Module names by file name and by object code: what a system-library check must see."""
        names = {PurePosixPath(p).stem for p, _ in self.items if p.endswith(".beam")}
        names |= {m for _, b in self.items if (m := beam_module_name(b))}
        return names

    def composition(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "sha256": self.sha256, "manifest": self.manifest,
                "entries": [e.as_dict() for e in self.entries]}


# ---- vetting ------------------------------------------------------------------------------------

def inspect_archive(data: bytes, *, expected_version: str | None = None) -> PatchArchive:
    """Vet an uploaded archive and unpack it in memory; raise :class:`ArchiveRefused` on anything hostile."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ArchiveRefused("too_large", f"{len(data)} bytes > {MAX_ARCHIVE_BYTES} (10 MB)")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ArchiveRefused("corrupt_zip", f"not a readable zip: {exc}") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        _vet_infos(infos)
        files = {i.filename: _read(zf, i) for i in infos}
    manifest = _manifest(files)
    entries = [Entry(i.filename, i.file_size, i.compress_size,
                     "manifest" if i.filename == MANIFEST_NAME else
                     "beam" if i.filename.endswith(".beam") else "other") for i in infos]
    archive = PatchArchive(manifest, entries, files, hashlib.sha256(data).hexdigest(), len(data))
    if not archive.items:
        raise ArchiveRefused("empty_archive", "the archive holds no module")
    if expected_version is not None and archive.system_version != expected_version:
        raise ArchiveRefused("wrong_version", f"built for system {archive.system_version}, "
                                              f"the system runs {expected_version}")
    return archive


def _vet_infos(infos: list[zipfile.ZipInfo]) -> None:
    if not infos:
        raise ArchiveRefused("empty_archive", "the archive holds no file")
    if len(infos) > MAX_ENTRIES:
        raise ArchiveRefused("too_many_entries", f"{len(infos)} entries > {MAX_ENTRIES}")
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        _vet_name(name)
        norm = str(PurePosixPath(name))
        if norm in seen:
            raise ArchiveRefused("duplicate_entry", f"{name!r} appears more than once")
        seen.add(norm)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveRefused("symlink", f"{name!r} is a symbolic link")
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            raise ArchiveRefused("special_file", f"{name!r} is not a regular file")
        if info.flag_bits & 0x1:
            raise ArchiveRefused("encrypted", f"{name!r} is encrypted")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MIN_RATIO_SIZE and ratio > MAX_RATIO:
            raise ArchiveRefused("zip_bomb", f"{name!r} expands {ratio:.0f}x to {info.file_size} bytes")
    if total > MAX_TOTAL_UNCOMPRESSED:
        raise ArchiveRefused("zip_bomb", f"{total} bytes uncompressed > {MAX_TOTAL_UNCOMPRESSED}")


def _vet_name(name: str) -> None:
    if "\x00" in name or "\\" in name:
        raise ArchiveRefused("bad_name", f"{name!r} has a NUL or a backslash")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ArchiveRefused("absolute_path", f"{name!r} is an absolute path")
    parts = name.split("/")
    if ".." in parts:
        raise ArchiveRefused("path_traversal", f"{name!r} leaves the archive root")
    if "" in parts or "." in parts:
        raise ArchiveRefused("bad_name", f"{name!r} is not a normalised relative path")


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    # Read at most the declared size + 1: a lying header cannot make us inflate more than that.
    try:
        with zf.open(info) as fh:
            data = fh.read(info.file_size + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, NotImplementedError,
            RuntimeError, ValueError) as exc:
        raise ArchiveRefused("corrupt_zip", f"{info.filename!r}: {exc}") from None
    if len(data) != info.file_size:
        raise ArchiveRefused("zip_bomb", f"{info.filename!r} inflates beyond its declared size")
    return data


def _manifest(files: dict[str, bytes]) -> dict[str, Any]:
    raw = files.get(MANIFEST_NAME)
    if raw is None:
        raise ArchiveRefused("no_manifest", f"{MANIFEST_NAME} is missing: a patch names its system version")
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveRefused("bad_manifest", f"{MANIFEST_NAME}: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("system_version"), str):
        raise ArchiveRefused("bad_manifest", f"{MANIFEST_NAME} must be an object with a system_version string")
    listed = manifest.get("modules")
    if listed is not None:
        paths = {m.get("path") for m in listed if isinstance(m, dict)} if isinstance(listed, list) else None
        if paths != set(files) - {MANIFEST_NAME}:
            raise ArchiveRefused("bad_manifest", "the manifest's module list does not match the archive")
    return manifest


# ---- BEAM files and system libraries ------------------------------------------------------------

def beam_module_name(data: bytes) -> str | None:
    """The module name in a BEAM file's atom table (the first atom), or None if it is not BEAM."""
    if len(data) < 12 or data[:4] != b"FOR1" or data[8:12] != b"BEAM":
        return None
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "big")
        body = data[pos + 8:pos + 8 + size]
        if cid in (b"AtU8", b"Atom") and len(body) >= 5:
            n = body[4]
            try:
                return body[5:5 + n].decode("utf-8" if cid == b"AtU8" else "latin-1") or None
            except UnicodeDecodeError:
                return None
        pos += 8 + ((size + 3) & ~3)
    return None


def otp_root() -> Path:
    erl = shutil.which("erl")
    if erl:
        root = Path(os.path.realpath(erl)).parents[1]
        if (root / "lib").is_dir():
            return root
    return Path("/usr/lib/erlang")


@functools.lru_cache(maxsize=4)
def system_library_modules(root: Path | None = None) -> frozenset[str]:
    """Every module of the OTP installation (kernel, stdlib, ... and the preloaded erts modules)."""
    base = root or otp_root()
    globs = list((base / "lib").glob("*/ebin/*.beam")) + list(base.glob("erts-*/ebin/*.beam"))
    return frozenset(p.stem for p in globs)


# ---- building -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModuleSpec:
    app: str
    source: Path

    @classmethod
    def parse(cls, spec: str) -> ModuleSpec:
        app, sep, path = spec.partition(":")
        if not sep or not app or not path:
            raise ConfigError(f"bad module spec {spec!r}", hint="write APP:FILE, e.g. core:src/core_util.erl")
        return cls(app, Path(path))


def build_patch(modules: Sequence[ModuleSpec | str], system_version: str, out: Path, *,
                name: str | None = None, erlc: str = "erlc") -> Path:
    """Compile ``.erl`` files (or take ``.beam`` files) into a patch zip checked against the limits.

    Raises :class:`ConfigError` for a user mistake and :class:`ArchiveRefused` when the result
    would be refused by the system (system library, not BEAM, name mismatch, too large).
    """
    specs = [m if isinstance(m, ModuleSpec) else ModuleSpec.parse(m) for m in modules]
    if not specs:
        raise ConfigError("a patch needs at least one module")
    if not re.fullmatch(r"\d+(\.\d+)*", system_version):
        raise ConfigError(f"bad system version {system_version!r}", hint="e.g. 2.7.1")
    beams = _compile(specs, erlc)
    listed = []
    for path, data in beams.items():
        module = PurePosixPath(path).stem
        if not _LAYOUT.match(path):
            raise ConfigError(f"{path}: not APP/ebin/MODULE.beam",
                              hint="application and module names are lowercase atoms")
        if beam_module_name(data) is None:
            raise ArchiveRefused("not_beam", f"{path} is not a BEAM file")
        if beam_module_name(data) != module:
            raise ArchiveRefused("module_name_mismatch", f"{path} holds module {beam_module_name(data)}")
        if module in system_library_modules():
            raise ArchiveRefused("system_library", f"{module} belongs to an OTP system library")
        listed.append({"path": path, "module": module, "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {"format": 1, "system_version": system_version, "name": name or out.stem, "modules": listed}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True))
        for path, data in sorted(beams.items()):
            zf.writestr(path, data)
    if buf.tell() > MAX_ARCHIVE_BYTES:
        raise ArchiveRefused("too_large", f"the archive would be {buf.tell()} bytes > {MAX_ARCHIVE_BYTES}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buf.getvalue())
    return out


def _compile(specs: Iterable[ModuleSpec], erlc: str) -> dict[str, bytes]:
    beams: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="patch-build-") as tmp:
        for spec in specs:
            if not spec.source.is_file():
                raise ConfigError(f"{spec.source}: no such file")
            if spec.source.suffix == ".erl":
                proc = subprocess.run([erlc, "-o", tmp, str(spec.source)], capture_output=True, text=True,
                                      check=False)
                if proc.returncode != 0:
                    raise ConfigError(f"{spec.source}: erlc failed\n{proc.stdout}{proc.stderr}")
                data = (Path(tmp) / f"{spec.source.stem}.beam").read_bytes()
            elif spec.source.suffix == ".beam":
                data = spec.source.read_bytes()
            else:
                raise ConfigError(f"{spec.source}: expected a .erl or .beam file")
            path = f"{spec.app}/ebin/{spec.source.stem}.beam"
            if path in beams:
                raise ConfigError(f"{path} given twice")
            beams[path] = data
    return beams
