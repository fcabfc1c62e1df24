"""The sample release build (``erlc`` and ``systools``, cached by content): an overlay of modules makes
another system, in its own cache entry, and leaves every other module as the sources have it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.products.otp.standin.release import SOURCES, build_release, erlang_available

pytestmark = [pytest.mark.requires_erlang,
              pytest.mark.skipif(not erlang_available(), reason="needs erl, erlc, escript (erlang-base)")]


def _beam(root: Path, vsn: str, module: str) -> bytes:
    return (root / "lib" / f"counter-{vsn}" / "ebin" / f"{module}.beam").read_bytes()


def test_an_overlay_replaces_only_its_modules_in_its_own_build(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    (overlay / "1.1").mkdir(parents=True)
    src = SOURCES / "counter" / "1.1"
    # one more exported function: its name is in the module's atom table (AtU8, not compressed)
    (overlay / "1.1" / "counter_server.erl").write_text((src / "counter_server.erl").read_text().replace(
        "-export([start_link/0,", "-export([overlaid_here/0, start_link/0,") + "overlaid_here() -> ok.\n")
    shipped = build_release("main", cache=tmp_path / "cache")
    other = build_release("main", cache=tmp_path / "cache", overlay=overlay)
    assert other.dir != shipped.dir and other.versions == shipped.versions
    assert b"overlaid_here" in _beam(other.dir, "1.1", "counter_server")
    assert b"overlaid_here" not in _beam(shipped.dir, "1.1", "counter_server")
    for vsn, module in (("1.0", "counter_server"), ("1.1", "counter_util"), ("1.1", "counter_sup")):
        assert _beam(other.dir, vsn, module) == _beam(shipped.dir, vsn, module)
    assert build_release("main", cache=tmp_path / "cache", overlay=overlay).dir == other.dir  # cached
    (overlay / "1.1" / "counter_server.erl").write_text((src / "counter_server.erl").read_text())
    assert build_release("main", cache=tmp_path / "cache", overlay=overlay).dir != other.dir  # by content
