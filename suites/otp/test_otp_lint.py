"""The appup/relup linter against the real ``systools:make_relup`` (OTP 25).

One tiny application ``demo`` is compiled with ``erlc`` in two versions (1.1 changes demo_server, adds
demo_new, drops demo_gone). Each case seeds one fault into the 1.1 appup; ONE ``escript`` run calls
``systools:make_relup(..., [silent])`` for every case and prints one line per case. Then:

* make_relup returns ``{error, _, Reason}`` → the linter reports an error with the same reason;
* make_relup lets it through → the linter reports no error, and the seeded risk as a warning;
* every relup make_relup wrote lints without errors; seeded relup faults are caught.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.products.otp import AppupContext, lint_appup_file, lint_relup_file, load_app_dir, read_relup

pytestmark = [pytest.mark.requires_erlang,
              pytest.mark.skipif(shutil.which("erl") is None or shutil.which("erlc") is None,
                                 reason="needs erl/erlc (Debian erlang-base + erlang-dev)")]

GOOD_UP = "[{add_module,demo_new},{update,demo_server,{advanced,x}},{delete_module,demo_gone}]"
GOOD_DN = "[{add_module,demo_gone},{update,demo_server,{advanced,x}},{delete_module,demo_new}]"


def _appup(up: str = GOOD_UP, down: str = GOOD_DN, key: str = '"1.0"', vsn: str = "1.1") -> str:
    return f'{{"{vsn}",\n [{{{key},\n   {up}}}],\n [{{{key},\n   {down}}}]}}.\n'


def _up(extra: str) -> str:
    """The good upgrade script with *extra* instructions appended."""
    return GOOD_UP[:-1] + "," + extra + "]"


# name -> (appup text, warning rule ids expected when make_relup lets it through)
CASES: dict[str, tuple[str, set[str]]] = {
    "good": (_appup(), set()),
    "regex_whole": (_appup(key='<<"1\\\\.0">>'), set()),
    "regex_prefix": (_appup(key='<<"1\\\\..*">>'), set()),
    "bad_instruction": (_appup(_up("{update,demo_server,hard}")), set()),
    "bad_instruction_atom": (_appup(_up("reload_everything")), set()),
    "bad_update_4": (_appup(_up("{update,demo_server,static,[]}")), set()),
    "bad_module": (_appup(_up('{load_module,"demo_server"}')), set()),
    "bad_add_module": (_appup(_up('{add_module,"x"}')), set()),
    "bad_timeout": (_appup(_up("{update,demo_sup,static,0,soft,brutal_purge,brutal_purge,[]}")), set()),
    "bad_purge": (_appup(_up("{load_module,demo_sup,fast_purge,brutal_purge,[]}")), set()),
    "bad_change": (_appup(_up("{update,demo_sup,{hard}}")), set()),
    "bad_mod_type": (_appup(_up("{update,demo_sup,weird,default,soft,brutal_purge,brutal_purge,[]}")), set()),
    "bad_list": (_appup(_up("{purge,demo_sup}")), set()),
    "bad_args_list": (_appup(_up("{apply,{io,format,x}}")), set()),
    "bad_node": (_appup(_up('{sync_nodes,id,["n@h"]}')), set()),
    "bad_application": (_appup(_up('{restart_application,"demo"}')), set()),
    "bad_start_type": (_appup(_up("{add_application,demo,forever}")), set()),
    "bad_func": (_appup(_up('{apply,{io,"format",[]}}')), set()),
    "bad_lib": (_appup(_up('{load_object_code,{"demo","1.1",[demo_sup]}}')), set()),
    "bad_lib_vsn": (_appup(_up("{load_object_code,{demo,11,[demo_sup]}}")), set()),
    "bad_mode": (_appup(_up("{code_change,sideways,[{demo_server,x}]}")), set()),
    "bad_code_change": (_appup(_up("{code_change,[demo_server]}")), set()),
    "mnesia_backup": (_appup(_up("mnesia_backup")), set()),
    "two_ponr": (_appup(_up("point_of_no_return,point_of_no_return")), set()),
    "op_before_ponr": (_appup("[{update,demo_server},point_of_no_return,{add_module,demo_new},"
                              "{delete_module,demo_gone}]"), set()),
    "no_object_code": (_appup(_up("{load,{demo_sup,brutal_purge,brutal_purge}}")), set()),
    "suspended_not_resumed": (_appup(_up("{suspend,[demo_sup]}")), set()),
    "resumed_not_suspended": (_appup(_up("{resume,[demo_sup]}")), set()),
    "start_not_stop": (_appup(_up("{start,[demo_sup]}")), set()),
    "stop_not_start": (_appup(_up("{stop,[demo_sup]}")), set()),
    "muldef_module": (_appup(_up("{load_module,demo_server}")), set()),
    "undef_module": (_appup(_up("{update,demo_sup,[demo_app]}")), set()),
    "no_such_module": (_appup(_up("{load_module,nosuch}")), set()),
    "no_upgrade_support": ('{"1.1",[],[]}.\n', set()),
    "no_entry_for_base": (_appup(key='"0.9"'), set()),
    "regex_not_whole": (_appup(key='<<"1">>'), set()),
    "regex_leftmost_alternative": (_appup(key='<<"1|1\\\\.0">>'), set()),
    "up_without_down": ('{"1.1",[{"1.0",' + GOOD_UP + "}],[]}.\n", set()),
    # let through by make_relup: the linter must warn
    "restart_new_emulator_not_first": (_appup(_up("restart_new_emulator")), {"OTP030"}),
    "before_restart_emulator": (_appup(_up("restart_emulator")), {"OTP031"}),
    "after_restart_emulator": (_appup("[restart_emulator," + GOOD_UP[1:]), {"OTP032"}),
    "code_change_without_suspend": (_appup(_up("{code_change,[{demo_sup,x}]}")), {"OTP034"}),
    "changed_module_unmentioned": (_appup("[{add_module,demo_new},{delete_module,demo_gone}]"),
                                   {"OTP040"}),
    "added_without_add_module": (_appup("[{update,demo_server,{advanced,x}},{delete_module,demo_gone}]"),
                                 {"OTP041"}),
    "removed_without_delete_module": (_appup("[{add_module,demo_new},{update,demo_server,{advanced,x}}]"),
                                      {"OTP041"}),
    "shadowed_entry": ('{"1.1",[{"1.0",' + GOOD_UP + '},{"1.0",[]}],[{"1.0",' + GOOD_DN + "}]}.\n",
                       {"OTP002"}),
    "appup_vsn_differs": (_appup(vsn="1.2"), {"OTP022"}),
    "empty_down_list_entry": (_appup(down="[]"), {"OTP041", "OTP040"}),
}

_SOURCES = {
    "1.0": {"demo_app": "-export([f/0]).\nf() -> ok.\n", "demo_sup": "-export([f/0]).\nf() -> ok.\n",
            "demo_server": "-export([f/0]).\nf() -> 1.\n", "demo_gone": "-export([f/0]).\nf() -> gone.\n"},
    "1.1": {"demo_app": "-export([f/0]).\nf() -> ok.\n", "demo_sup": "-export([f/0]).\nf() -> ok.\n",
            "demo_server": "-export([f/0, g/0]).\nf() -> 2.\ng() -> new.\n",
            "demo_new": "-export([f/0]).\nf() -> new.\n"},
}

_ESCRIPT = r"""#!/usr/bin/env escript
main([Base, CasesFile]) ->
    {ok, Cases} = file:consult(CasesFile),
    lists:foreach(fun({Name, Dir}) ->
        P = [Dir ++ "/lib/*/ebin", Base ++ "/lib/*/ebin"],
        R = (catch systools:make_relup(Dir ++ "/rel-1.1", [Base ++ "/rel-1.0"], [Base ++ "/rel-1.0"],
                                       [{path, P}, silent, {outdir, Dir}])),
        Out = case R of
                  {ok, _, _, Ws} -> {ok, Ws};
                  {error, M, Reason} -> {error, M, Reason};
                  Other -> {crash, Other}
              end,
        io:format("~s\t~0tp~n", [Name, Out])
    end, Cases).
"""


@dataclass(frozen=True)
class Built:
    base: Path
    cases: dict[str, Path]
    results: dict[str, str]


def _versions() -> dict[str, str]:
    out = subprocess.run(
        ["erl", "-noshell", "-eval",
         ('io:format("~s ~s~n", [erlang:system_info(version), string:join([atom_to_list(A) ++ "=" ++ V '
         '|| {A, _, V} <- application:loaded_applications()] ++ [case application:load(sasl) of _ -> '
         '{ok, V} = application:get_key(sasl, vsn), "sasl=" ++ V end], ",")]), halt().')],
        capture_output=True, text=True, check=True, timeout=60).stdout.split()
    vs = dict(kv.split("=") for kv in out[1].split(","))
    return {"erts": out[0], "kernel": vs["kernel"], "stdlib": vs["stdlib"], "sasl": vs["sasl"]}


def _rel(vsn: str, v: dict[str, str]) -> str:
    return (f'{{release,{{"demo","{vsn}"}},{{erts,"{v["erts"]}"}},[{{kernel,"{v["kernel"]}"}},'
            f'{{stdlib,"{v["stdlib"]}"}},{{sasl,"{v["sasl"]}"}},{{demo,"{vsn}"}}]}}.\n')


def _app_file(vsn: str) -> str:
    mods = ",".join(sorted(_SOURCES[vsn]))
    return (f'{{application,demo,[{{description,"demo"}},{{vsn,"{vsn}"}},{{modules,[{mods}]}},'
            f'{{registered,[]}},{{applications,[kernel,stdlib]}}]}}.\n')


def _compile(tmp: Path, vsn: str) -> Path:
    src, ebin = tmp / f"src-{vsn}", tmp / f"ebin-{vsn}"
    src.mkdir()
    ebin.mkdir()
    for mod, body in _SOURCES[vsn].items():
        (src / f"{mod}.erl").write_text(f"-module({mod}).\n{body}")
    subprocess.run(["erlc", "-o", str(ebin), *sorted(str(p) for p in src.glob("*.erl"))],
                   check=True, timeout=120)
    (ebin / "demo.app").write_text(_app_file(vsn))
    return ebin


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    tmp = tmp_path_factory.mktemp("otp_lint")
    versions = _versions()
    old_ebin, new_ebin = _compile(tmp, "1.0"), _compile(tmp, "1.1")
    base = tmp / "base"
    shutil.copytree(old_ebin, base / "lib" / "demo-1.0" / "ebin")
    (base / "rel-1.0.rel").write_text(_rel("1.0", versions))
    cases: dict[str, Path] = {}
    for name, (appup, _) in CASES.items():
        d = tmp / "cases" / name
        shutil.copytree(new_ebin, d / "lib" / "demo-1.1" / "ebin")
        (d / "lib" / "demo-1.1" / "ebin" / "demo.appup").write_text(appup)
        (d / "rel-1.1.rel").write_text(_rel("1.1", versions))
        cases[name] = d
    (tmp / "cases.txt").write_text("".join(f'{{"{n}","{d}"}}.\n' for n, d in cases.items()))
    (tmp / "relup.escript").write_text(_ESCRIPT)
    proc = subprocess.run(["escript", str(tmp / "relup.escript"), str(base), str(tmp / "cases.txt")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    results = dict(line.split("\t", 1) for line in proc.stdout.splitlines() if "\t" in line)
    assert set(results) == set(CASES), proc.stdout
    return Built(base, cases, results)


def _lint(built: Built, name: str) -> list:  # type: ignore[type-arg]
    d = built.cases[name]
    ctx = AppupContext(from_vsn="1.0", old_app=load_app_dir(built.base / "lib" / "demo-1.0"),
                       new_app=load_app_dir(d / "lib" / "demo-1.1"))
    return lint_appup_file(str(d / "lib" / "demo-1.1" / "ebin" / "demo.appup"), ctx)


def _reason(result: str) -> str | None:
    m = re.fullmatch(r"\{error,(\w+),(.*)\}", result)
    return m.group(2) if m else None


@pytest.mark.parametrize("name", sorted(CASES))
def test_linter_agrees_with_make_relup(built: Built, name: str) -> None:
    result, findings = built.results[name], _lint(built, name)
    errors = [f for f in findings if f.severity == "error"]
    reason = _reason(result)
    if reason is not None:
        assert errors, f"make_relup refused {reason} but the linter found no error: {findings}"
        if reason.startswith("{no_relup,"):
            base = reason.rsplit(",", 1)[1].rstrip("}")
            assert any(f.reason and f.reason.startswith("{no_relup,") and f.reason.endswith(base + "}")
                       for f in errors), (reason, errors)
        else:
            assert reason in {f.reason for f in errors}, (reason, errors)
        return
    assert result.startswith("{ok,"), result
    assert not errors, f"make_relup accepted ({result}) but the linter says {errors}"
    expected = CASES[name][1]
    assert expected <= {f.rule for f in findings}, (expected, findings)
    if "OTP022" in expected:
        assert "bad_vsn" in result


def test_every_refusal_is_covered(built: Built) -> None:
    """The corpus exercises each refusal make_relup gave; no case crashed make_relup."""
    assert not [n for n, r in built.results.items() if r.startswith("{crash")]
    refused = {n for n, r in built.results.items() if _reason(r) is not None}
    assert refused == {n for n, (_, warn) in CASES.items() if not warn and n not in
                       ("good", "regex_whole", "regex_prefix")}


def test_generated_relups_lint_clean(built: Built) -> None:
    done = 0
    for name, d in built.cases.items():
        if built.results[name].startswith("{ok,"):
            findings = lint_relup_file(str(d / "relup"), from_vsn="1.0", to_vsn="1.1")
            assert not [f for f in findings if f.severity == "error"], (name, findings)
            done += 1
    assert done >= 10


_RELUP_FAULTS = {
    "OTP053": lambda s: s.replace("point_of_no_return,", "point_of_no_return,restart_emulator,", 1),
    "OTP054": lambda s: s.replace("point_of_no_return,", "point_of_no_return,restart_new_emulator,", 1),
    "OTP012": lambda s: s.replace("point_of_no_return,", "{suspend,[demo_server]},point_of_no_return,", 1),
    "OTP013": lambda s: re.sub(r"\{load_object_code,\{demo,\"1\.1\",\[[a-z_,]+\]\}\},", "", s, count=1),
    "OTP052": lambda s: s.replace("point_of_no_return,", "point_of_no_return,{load_object_code,"
                                  '{demo,"1.1",[demo_new]}},', 1),
    "OTP010": lambda s: s.replace("point_of_no_return,", "point_of_no_return,{apply,{io,format,x}},", 1),
}


@pytest.mark.parametrize("rule", sorted(_RELUP_FAULTS))
def test_seeded_relup_faults_are_caught(built: Built, rule: str, tmp_path: Path) -> None:
    text = re.sub(r"\s+", "", (built.cases["good"] / "relup").read_text().split("\n", 1)[1])
    text = text.replace("%%", "")
    faulty = _RELUP_FAULTS[rule](text)
    assert faulty != text
    path = tmp_path / "relup"
    path.write_text(faulty + "\n")
    read_relup(path)
    findings = lint_relup_file(str(path), from_vsn="1.0", to_vsn="1.1")
    assert rule in {f.rule for f in findings if f.severity == "error"}, findings


def test_a_second_point_of_no_return_in_a_relup_is_only_a_warning(built: Built, tmp_path: Path) -> None:
    """release_handler_1 splits at the first point_of_no_return and evaluates the second like the first:
    suites/otp/test_otp_release_handler_replies.py installs such a relup on a real node."""
    text = re.sub(r"\s+", "", (built.cases["good"] / "relup").read_text().split("\n", 1)[1]).replace("%%", "")
    path = tmp_path / "relup"
    path.write_text(text.replace("point_of_no_return,", "point_of_no_return,point_of_no_return,", 1) + "\n")
    findings = lint_relup_file(str(path), from_vsn="1.0", to_vsn="1.1")
    assert [f.severity for f in findings if f.rule == "OTP011"] == ["warning"]
    assert not [f for f in findings if f.severity == "error"], findings
