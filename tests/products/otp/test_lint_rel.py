"""`.rel` pair lint: sasl in both releases, core-app changes need restart_new_emulator first."""

from __future__ import annotations

from pathlib import Path

from harness.products.otp.lint_rel import lint_rel_files

BASE = '{release,{"c","1.0"},{erts,"13.1.5"},[{kernel,"8.5.3"},{stdlib,"4.2"},{sasl,"4.2"},{c,"1.0"}]}.\n'


def _rel(tmp: Path, name: str, text: str) -> str:
    p = tmp / name
    p.write_text(text)
    return str(p)


def test_app_only_change_is_clean(tmp_path: Path) -> None:
    new = BASE.replace('"1.0"', '"1.1"')
    assert lint_rel_files(_rel(tmp_path, "o.rel", BASE), _rel(tmp_path, "n.rel", new)) == []


def test_core_change_needs_restart_new_emulator_first(tmp_path: Path) -> None:
    new = BASE.replace('"1.0"', '"1.1"').replace('"8.5.3"', '"8.5.4"')
    o, n = _rel(tmp_path, "o.rel", BASE), _rel(tmp_path, "n.rel", new)
    assert [(f.rule, f.severity) for f in lint_rel_files(o, n)] == [("OTP033", "warning")]
    bad = _rel(tmp_path, "relup", '{"1.1",[{"1.0",[],[point_of_no_return]}],[{"1.0",[],[]}]}.\n')
    (f,) = lint_rel_files(o, n, bad)
    assert (f.rule, f.line) == ("OTP033", 1) and "kernel 8.5.3 -> 8.5.4" in f.message
    good = _rel(tmp_path, "relup2", '{"1.1",[{"1.0",[],[restart_new_emulator,point_of_no_return]}],'
                                    '[{"1.0",[],[point_of_no_return,restart_emulator]}]}.\n')
    assert lint_rel_files(o, n, good) == []


def test_missing_sasl_is_an_error(tmp_path: Path) -> None:
    new = '{release,{"c","1.1"},{erts,"13.1.5"},[{kernel,"8.5.3"},{stdlib,"4.2"},{c,"1.1"}]}.\n'
    rules = {(f.rule, f.severity, f.reason) for f in lint_rel_files(_rel(tmp_path, "o.rel", BASE),
                                                                      _rel(tmp_path, "n.rel", new))}
    assert ("OTP055", "error", '{missing_sasl,"1.1"}') in rules
