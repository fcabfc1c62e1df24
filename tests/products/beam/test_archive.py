"""Vetting uploaded archives and building patches (no nodes)."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.products.beam import MANIFEST_NAME, ArchiveRefused, build_patch, inspect_archive
from harness.products.beam.archive import MAX_ARCHIVE_BYTES, beam_module_name
from harness.products.beam.testing import symlink_info, zip_bytes

FAKE_BEAM = b"FOR1\x00\x00\x00\x20BEAMAtU8\x00\x00\x00\x0c\x00\x00\x00\x01\x07modulex\x00\x00\x00"
needs_erlc = pytest.mark.skipif(shutil.which("erlc") is None, reason="erlc (Debian erlang-base) not installed")


def _bomb() -> bytes:
    return zip_bytes([("core/ebin/big.beam", b"\0" * (20 * 1024 * 1024))])


def _lying_bomb() -> bytes:
    """Declared size small, real inflated size large: the header lies."""
    raw = bytearray(zip_bytes([("core/ebin/big.beam", b"\0" * (2 * 1024 * 1024))]))
    real = (2 * 1024 * 1024).to_bytes(4, "little")
    small = (1000).to_bytes(4, "little")
    return bytes(raw.replace(real, small))


def _corrupt() -> bytes:
    data = bytearray(zip_bytes([("core/ebin/m.beam", b"x" * 4000)], compression=zipfile.ZIP_DEFLATED))
    data[60:80] = b"\xff" * 20
    return bytes(data)


HOSTILE = {
    "path_traversal": zip_bytes([("../../etc/evil.beam", FAKE_BEAM)]),
    "path_traversal_inner": zip_bytes([("core/ebin/../../../x.beam", FAKE_BEAM)]),
    "absolute_path": zip_bytes([("/tmp/evil.beam", FAKE_BEAM)]),
    "absolute_windows": zip_bytes([("C:/evil.beam", FAKE_BEAM)]),
    "symlink": zip_bytes([(symlink_info("core/ebin/core_util.beam"), b"/etc/passwd")]),
    "zip_bomb": _bomb(),
    "duplicate_entry": zip_bytes([("core/ebin/m.beam", FAKE_BEAM), ("core/ebin/m.beam", FAKE_BEAM)]),
    "corrupt_zip": b"PK\x03\x04 this is not really a zip",
    "empty_zip": zip_bytes([], version=None),
    "manifest_only": zip_bytes([]),
    "no_manifest": zip_bytes([("core/ebin/m.beam", FAKE_BEAM)], version=None),
    "bad_manifest": zip_bytes([(MANIFEST_NAME + "x", b"")], version=None),
}
EXPECTED = {"path_traversal_inner": "path_traversal", "absolute_windows": "absolute_path", "empty_zip": "empty_archive",
            "manifest_only": "empty_archive", "bad_manifest": "no_manifest"}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_is_refused_with_a_reason(case: str) -> None:
    with pytest.raises(ArchiveRefused) as info:
        inspect_archive(HOSTILE[case])
    assert info.value.reason == EXPECTED.get(case, case)


def test_lying_bomb_never_inflates_past_its_declared_size() -> None:
    with pytest.raises(ArchiveRefused) as info:
        inspect_archive(_lying_bomb())
    assert info.value.reason in {"zip_bomb", "corrupt_zip"}


def test_damaged_deflate_stream_is_corrupt() -> None:
    with pytest.raises(ArchiveRefused) as info:
        inspect_archive(_corrupt())
    assert info.value.reason == "corrupt_zip"


def test_too_large_archive() -> None:
    with pytest.raises(ArchiveRefused) as info:
        inspect_archive(b"\0" * (MAX_ARCHIVE_BYTES + 1))
    assert info.value.reason == "too_large"


def test_wrong_version_refused() -> None:
    with pytest.raises(ArchiveRefused) as info:
        inspect_archive(zip_bytes([("core/ebin/m.beam", FAKE_BEAM)], version="2.6.0"), expected_version="2.7.1")
    assert info.value.reason == "wrong_version"


def test_manifest_module_list_must_match() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(MANIFEST_NAME, json.dumps({"system_version": "2.7.1",
                                               "modules": [{"path": "core/ebin/other.beam"}]}))
        zf.writestr("core/ebin/m.beam", FAKE_BEAM)
    with pytest.raises(ArchiveRefused) as info:
        inspect_archive(buf.getvalue())
    assert info.value.reason == "bad_manifest"


def test_composition_lists_every_entry() -> None:
    archive = inspect_archive(zip_bytes([("core/ebin/m.beam", FAKE_BEAM), ("core/ebin/junk.beam", b"junk"),
                                         ("README.txt", b"hi")]))
    comp = archive.composition()
    kinds = {e["path"]: e["kind"] for e in comp["entries"]}
    assert kinds == {MANIFEST_NAME: "manifest", "core/ebin/m.beam": "beam", "core/ebin/junk.beam": "beam",
                     "README.txt": "other"}
    assert [p for p, _ in archive.items] == ["core/ebin/m.beam", "core/ebin/junk.beam", "README.txt"]
    assert archive.module_names() == {"m", "junk", "modulex"}


def test_beam_module_name() -> None:
    assert beam_module_name(FAKE_BEAM) == "modulex"
    assert beam_module_name(b"junk") is None
    lists = Path("/usr/lib/erlang/lib").glob("stdlib-*/ebin/lists.beam")
    for path in lists:
        assert beam_module_name(path.read_bytes()) == "lists"


@needs_erlc
def test_build_from_erl_and_beam(tmp_path: Path) -> None:
    src = tmp_path / "fixme.erl"
    src.write_text("-module(fixme).\n-export([f/0]).\nf() -> 1.\n")
    out = build_patch([f"core:{src}"], "2.7.1", tmp_path / "p.zip")
    archive = inspect_archive(out.read_bytes(), expected_version="2.7.1")
    assert [p for p, _ in archive.items] == ["core/ebin/fixme.beam"]
    assert archive.manifest["modules"][0]["module"] == "fixme"
    beam = tmp_path / "fixme.beam"
    beam.write_bytes(archive.files["core/ebin/fixme.beam"])
    again = build_patch([f"billing:{beam}"], "2.7.1", tmp_path / "q.zip")
    assert "billing/ebin/fixme.beam" in inspect_archive(again.read_bytes()).files


@needs_erlc
def test_build_refuses_system_libraries_and_bad_beams(tmp_path: Path) -> None:
    lists = next(Path("/usr/lib/erlang/lib").glob("stdlib-*/ebin/lists.beam"))
    with pytest.raises(ArchiveRefused) as info:
        build_patch([f"core:{lists}"], "2.7.1", tmp_path / "p.zip")
    assert info.value.reason == "system_library"
    junk = tmp_path / "junk.beam"
    junk.write_bytes(b"not a beam")
    with pytest.raises(ArchiveRefused) as info:
        build_patch([f"core:{junk}"], "2.7.1", tmp_path / "p.zip")
    assert info.value.reason == "not_beam"
    renamed = tmp_path / "other.beam"
    renamed.write_bytes(lists.read_bytes())
    with pytest.raises(ArchiveRefused) as info:
        build_patch([f"core:{renamed}"], "2.7.1", tmp_path / "p.zip")
    assert info.value.reason == "module_name_mismatch"
    with pytest.raises(ConfigError):
        build_patch(["no-colon.erl"], "2.7.1", tmp_path / "p.zip")
    with pytest.raises(ConfigError):
        build_patch([f"core:{junk}"], "latest", tmp_path / "p.zip")
    assert not (tmp_path / "p.zip").exists()
