"""One test per lint rule, on appups/relups written inline."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.products.otp import AppupContext, lint_appup_file, lint_relup_file, load_app_dir
from harness.products.otp.cli import app
from harness.products.otp.findings import RULES

GOOD = "[{update,m,{advanced,x}}]"


def _appup(tmp_path: Path, up: str = GOOD, down: str = GOOD, key: str = '"1.0"', name: str = "demo",
           vsn: str = "1.1") -> str:
    p = tmp_path / f"{name}.appup"
    p.write_text(f'{{"{vsn}",\n [{{{key},\n   {up}}}],\n [{{{key},\n   {down}}}]}}.\n')
    return str(p)


def _rules(findings: list) -> set[str]:  # type: ignore[type-arg]
    return {f.rule for f in findings}


def test_good_appup_is_clean(tmp_path: Path) -> None:
    assert lint_appup_file(_appup(tmp_path)) == []


@pytest.mark.parametrize("up, rule, reason", [
    ("[{update,m,hard}]", "OTP010", "{bad_instruction,{update,m,hard}}"),
    ("[{update,m,static,0,soft,brutal_purge,brutal_purge,[]}]", "OTP010", "{bad_timeout,0}"),
    ("[{apply,{io,format,x}}]", "OTP010", "{bad_args_list,x}"),
    ("[{code_change,[m]}]", "OTP010", "{bad_code_change,m}"),
    ("[point_of_no_return,point_of_no_return]", "OTP011", "too_many_point_of_no_return"),
    ("[{update,m},point_of_no_return]", "OTP012",
     "{bad_op_before_point_of_no_return,{update,m,soft,brutal_purge,brutal_purge,[]}}"),
    ("[{load,{m,brutal_purge,brutal_purge}}]", "OTP013", "{no_object_code,m}"),
    ("[{suspend,[m]}]", "OTP013", "{suspended_not_resumed,[m]}"),
    ("[{stop,[m]}]", "OTP013", "{stop_not_start,[m]}"),
    ("[{update,m},{load_module,m}]", "OTP014", "{muldef_module,m}"),
])
def test_make_relup_refusals(tmp_path: Path, up: str, rule: str, reason: str) -> None:
    found = [f for f in lint_appup_file(_appup(tmp_path, up=up)) if f.rule == rule]
    assert found and found[0].severity == "error" and reason in {f.reason for f in found}
    assert found[0].line == 3


def test_a_dependency_on_another_applications_module_is_only_a_warning(tmp_path: Path) -> None:
    """make_relup checks DepMods over the merged script of every changed application."""
    found = [f for f in lint_appup_file(_appup(tmp_path, up="[{update,m,[n]}]")) if f.rule == "OTP014"]
    assert [(f.severity, f.reason) for f in found] == [("warning", "{undef_module,n}")]


def test_shape_rules(tmp_path: Path) -> None:
    assert "OTP001" in _rules(lint_appup_file(_appup(tmp_path, up="notalist")))
    assert "OTP003" in _rules(lint_appup_file(_appup(tmp_path, key='<<"(">>')))
    assert "OTP002" in _rules(lint_appup_file(_appup(tmp_path, key="'1.0'")))
    p = tmp_path / "x.appup"
    p.write_text('{"1.1",[{<<".*">>,[]},{"1.0",[]}],[{<<".*">>,[]}]}.')
    assert "OTP002" in _rules(lint_appup_file(str(p)))


def test_no_upgrade_support_and_symmetry(tmp_path: Path) -> None:
    p = tmp_path / "x.appup"
    p.write_text('{"1.1",[],[]}.')
    (f,) = lint_appup_file(str(p))
    assert f.rule == "OTP020" and f.severity == "warning"
    p.write_text('{"1.1",[{"1.0",[]}],[]}.')
    assert _rules(lint_appup_file(str(p))) == {"OTP021"}
    ctx = AppupContext(from_vsn="0.9")
    found = lint_appup_file(_appup(tmp_path), ctx)
    assert {f.rule for f in found if f.severity == "error"} == {"OTP016"}
    assert all(f.reason and f.reason.startswith("{no_relup,") for f in found)


def test_emulator_rules(tmp_path: Path) -> None:
    assert "OTP030" in _rules(lint_appup_file(_appup(tmp_path, up="[{update,m},restart_new_emulator]")))
    assert "OTP031" in _rules(lint_appup_file(_appup(tmp_path, up="[{update,m},restart_emulator]")))
    assert "OTP032" in _rules(lint_appup_file(_appup(tmp_path, up="[restart_emulator,{update,m}]")))
    core = lint_appup_file(_appup(tmp_path, name="kernel", up="[{update,m}]"))
    assert "OTP033" in _rules(core)
    ok = lint_appup_file(_appup(tmp_path, name="stdlib", up="[restart_new_emulator]",
                                down="[restart_new_emulator]"))
    assert ok == []


def test_code_change_without_suspend(tmp_path: Path) -> None:
    assert "OTP034" in _rules(lint_appup_file(_appup(tmp_path, up="[{code_change,[{m,x}]}]")))
    assert "OTP034" not in _rules(lint_appup_file(_appup(
        tmp_path, up="[{suspend,[m]},{code_change,up,[{m,x}]},{resume,[m]}]")))


def _app(tmp_path: Path, vsn: str, mods: dict[str, bytes]) -> Path:
    d = tmp_path / f"demo-{vsn}" / "ebin"
    d.mkdir(parents=True)
    (d / "demo.app").write_text(f'{{application,demo,[{{vsn,"{vsn}"}},{{modules,[{",".join(mods)}]}}]}}.')
    for m, code in mods.items():  # minimal BEAM container: one Code chunk
        chunk = b"Code" + len(code).to_bytes(4, "big") + code + b"\0" * (-len(code) % 4)
        (d / f"{m}.beam").write_bytes(b"FOR1" + (len(chunk) + 4).to_bytes(4, "big") + b"BEAM" + chunk)
    return d.parent


def test_context_rules(tmp_path: Path) -> None:
    old = load_app_dir(_app(tmp_path, "1.0", {"m": b"a", "n": b"b", "gone": b"c"}))
    new = load_app_dir(_app(tmp_path, "1.1", {"m": b"a", "n": b"CHANGED", "fresh": b"d"}))
    ctx = AppupContext(old_app=old, new_app=new)
    found = lint_appup_file(_appup(tmp_path, up="[{load_module,m}]", down="[{load_module,m}]"), ctx)
    assert any("n changed" in f.message for f in found if f.rule == "OTP040")
    assert sum(f.rule == "OTP041" for f in found) == 4  # fresh and gone, each way
    assert "OTP015" in _rules(lint_appup_file(_appup(tmp_path, up="[{load_module,zz}]"), ctx))
    assert "OTP022" in _rules(lint_appup_file(_appup(tmp_path, vsn="9.9"), ctx))


def _relup(tmp_path: Path, up: str, down: str = "[point_of_no_return]", vsn: str = "1.1") -> str:
    p = tmp_path / "relup"
    p.write_text(f'{{"{vsn}",\n [{{"1.0",[],\n   {up}}}],\n [{{"1.0",[],\n   {down}}}]}}.\n')
    return str(p)


LOC = '{load_object_code,{demo,"1.1",[m]}}'


@pytest.mark.parametrize("up, rule", [
    ((f"[{LOC},point_of_no_return,{{load,{{m,brutal_purge,brutal_purge}}}},restart_emulator,"
     "{apply,{a,b,[]}}]"), "OTP053"),
    (f"[{LOC},restart_new_emulator,point_of_no_return]", "OTP054"),
    (f"[point_of_no_return,{LOC}]", "OTP052"),
    ("[point_of_no_return,{load,{m,brutal_purge,brutal_purge}}]", "OTP013"),
    ("[{suspend,[m]},point_of_no_return]", "OTP012"),
    ('[{load_object_code,{kernel,"9.0",[m]}},point_of_no_return]', "OTP033"),
    ("[point_of_no_return,{code_change,up,[{m,x}]}]", "OTP034"),
])
def test_relup_rules(tmp_path: Path, up: str, rule: str) -> None:
    assert rule in _rules(lint_relup_file(_relup(tmp_path, up)))


def test_relup_context(tmp_path: Path) -> None:
    path = _relup(tmp_path, "[point_of_no_return]")
    assert lint_relup_file(path, "1.0", "1.1") == []
    assert {"OTP050", "OTP051"} <= _rules(lint_relup_file(path, "0.9", "2.0"))
    ok = f"[restart_new_emulator,{LOC},point_of_no_return]"
    assert lint_relup_file(_relup(tmp_path, ok, down=f"[{LOC},point_of_no_return,restart_emulator]")) == []


def test_every_rule_is_documented() -> None:
    doc = (Path(__file__).parents[3] / "docs" / "lint-rules.md").read_text()
    assert all(f"`{rid}`" in doc for rid in RULES)


@pytest.mark.skipif(not glob.glob("/usr/lib/erlang/lib/*/ebin/*.appup"), reason="no Erlang/OTP installed")
def test_shipped_appups_have_no_error() -> None:
    files = sorted(glob.glob("/usr/lib/erlang/lib/*/ebin/*.appup"))
    errors = [f for p in files for f in lint_appup_file(p) if f.severity == "error"]
    assert errors == []
    result = CliRunner().invoke(app, ["appup", *files])
    assert result.exit_code == 0, result.output


def test_cli_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["appup", _appup(tmp_path)]).exit_code == 0
    bad = _appup(tmp_path, up="[{update,m,hard}]", name="bad")
    r = runner.invoke(app, ["appup", "--format", "json", bad])
    assert r.exit_code == 1 and '"rule": "OTP010"' in r.output
    warn = _appup(tmp_path, up="[{update,m},restart_emulator]", name="warn")
    assert runner.invoke(app, ["appup", warn]).exit_code == 0
    assert runner.invoke(app, ["appup", "--warnings-as-errors", warn]).exit_code == 1
    broken = tmp_path / "broken.appup"
    broken.write_text("{a,\n")
    r = runner.invoke(app, ["appup", str(broken)])
    assert r.exit_code == 2 and f"{broken}:2" in r.output
    assert runner.invoke(app, ["appup", str(tmp_path / "missing.appup")]).exit_code == 2
    assert runner.invoke(app, ["relup", _relup(tmp_path, "[point_of_no_return]"), "--to", "1.1"]).exit_code == 0
