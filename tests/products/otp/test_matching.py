"""Version keys: string = exact, binary = leftmost match must be the whole version; first wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.products.otp import (
    read_appup,
    read_relup,
    relup_script,
    resolve_down,
    resolve_up,
    version_matches,
)
from harness.products.otp.terms import Atom, Binary, Str


@pytest.mark.parametrize("key, vsn, hit", [
    (Str("1.0"), "1.0", True), (Str("1.0"), "1.0.1", False), (Atom("1.0"), "1.0", False),
    (Binary(b"1"), "1.0", False), (Binary(b"1\\.0"), "1.0", True), (Binary(b"1\\..*"), "1.0.3", True),
    (Binary(b"^8\\.5$"), "8.5", True), (Binary(b"^8\\.5$"), "8.5.1", False),
    (Binary(b".*"), "anything", True),
    # re:run takes the leftmost match: "1" matches first, so the whole "1.0" is never tried
    (Binary(b"1|1\\.0"), "1.0", False), (Binary(b"1\\.0|1"), "1.0", True),
])
def test_version_matches(key: object, vsn: str, hit: bool) -> None:
    assert version_matches(key, vsn) is hit


def _write(tmp_path: Path, text: str, name: str = "demo.appup") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_first_match_wins(tmp_path: Path) -> None:
    appup = read_appup(_write(tmp_path, '{"2.0",[{<<"1\\\\..*">>,[first]},{"1.0",[second]}],'
                                        '[{"1.0",[down_exact]},{<<".*">>,[down_any]}]}.'))
    assert resolve_up(appup, "1.0") == [Atom("first")]
    assert resolve_up(appup, "0.9") is None
    assert resolve_down(appup, "1.0") == [Atom("down_exact")]
    assert resolve_down(appup, "0.1") == [Atom("down_any")]


def test_malformed_entries_are_skipped(tmp_path: Path) -> None:
    appup = read_appup(_write(tmp_path, '{"2.0",[bogus,{1.0,[x]},{"1.0",[y]}],[]}.'))
    assert resolve_up(appup, "1.0") == [Atom("y")]


def test_relup_lookup_is_exact(tmp_path: Path) -> None:
    relup = read_relup(_write(tmp_path, '{"1.1",[{"1.0",[],[a]},{"1.0",[],[b]}],[{"1.0","d",[c]}]}.',
                              "relup"))
    assert relup_script(relup, "1.0", "up").instructions == [Atom("a")]  # type: ignore[union-attr]
    assert relup_script(relup, "1.0", "down").descr == "d"  # type: ignore[union-attr]
    assert relup_script(relup, "1", "up") is None


def test_appup_frame_errors_name_the_line(tmp_path: Path) -> None:
    from harness.errors import ConfigError
    with pytest.raises(ConfigError) as exc:
        read_appup(_write(tmp_path, '%% x\n\n{"1.1",[]}.'))
    assert exc.value.line == 3
