"""The linter on OTP's own material: no error where systools/release_handler accept the file.

Sources, in order of availability:

* vendored fixtures (``fixtures/upstream``, see its SOURCES.md): sasl's test data, a kernel
  ``.appup.src`` and every example of the Appup Cookbook; always run;
* the appups an installed Erlang/OTP ships (``lib/*/ebin/*.appup``, built from ``src/*.appup.src``);
* a checkout or bare clone of erlang/otp named by ``HARNESS_OTP_GIT``: every ``lib/*/src/*.appup.src``
  and every appup under ``lib/sasl/test/*_SUITE_data`` at its HEAD.

Files systools itself refuses are listed in :data:`REFUSED` with the rule the linter must give instead.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.products.otp import lint_appup_file, lint_relup_file

FIXTURES = Path(__file__).parent / "fixtures" / "upstream"
# relative path (or, for a mirror, path suffix) -> what systools says and the linter must say too
REFUSED = {
    "rh/b-2.0/b.appup": "OTP010",  # remove_module: bad_instruction in OTP 25's systools_rc
    "d_bad_appup/lib/fe-3.1/ebin/fe.appup": "parse", "systools/d_bad_appup/fe-3.1/fe.appup": "parse",
    "cookbook/add_module/ch_app.appup": "parse",  # the cookbook's missing "}"
    "cookbook/port_program/portc_app.appup": "parse",  # the cookbook's [...] for {...}
    "release_handler_SUITE_data/lib/b-2.0/ebin/b.appup": "OTP010",
}


def _verdict(path: str, name: str) -> tuple[str, list[str]]:
    """("parse", []) when the file does not read; else ("", error findings)."""
    lint = lint_relup_file if name.endswith("relup") else lint_appup_file
    try:
        findings = lint(path)
    except ConfigError:
        return "parse", []
    return "", [f"{f.rule} {f.message}" for f in findings if f.severity == "error"]


def _expect(name: str, verdict: str, errors: list[str]) -> None:
    want = next((v for k, v in REFUSED.items() if name.endswith(k)), None)
    if want == "parse":
        assert verdict == "parse", f"{name}: systools cannot read it, the linter read it: {errors}"
    elif want is not None:
        assert verdict == "" and {e.split()[0] for e in errors} == {want}, (name, verdict, errors)
    else:
        assert verdict == "" and errors == [], f"{name}: false error(s): {errors}"


VENDORED = sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*")
                  if p.is_file() and p.name != "SOURCES.md")


def test_the_vendored_set_is_what_sources_md_lists() -> None:
    assert len(VENDORED) >= 30
    assert {p.split("/")[0] for p in VENDORED} == {"rh", "systools", "src", "cookbook"}


@pytest.mark.parametrize("name", VENDORED)
def test_no_false_error_on_vendored_upstream_files(name: str) -> None:
    verdict, errors = _verdict(str(FIXTURES / name), name)
    _expect(name, verdict, errors)


def test_cookbook_dependency_on_another_application_is_a_warning_not_an_error() -> None:
    found = lint_appup_file(str(FIXTURES / "cookbook/dependencies_other_app/myapp.appup"))
    assert {(f.rule, f.severity) for f in found} == {("OTP014", "warning")}


def test_appup_src_is_linted_as_its_application(tmp_path: Path) -> None:
    """stdlib.appup.src is stdlib's appup: a core application, so an entry without
    restart_new_emulator is flagged (OTP033) as it is for stdlib.appup."""
    src = tmp_path / "stdlib.appup.src"
    src.write_text('{"%VSN%",[{<<"4\\\\..*">>,[{load_module,lists}]}],[{<<"4\\\\..*">>,[{load_module,lists}]}]}.\n')
    assert "OTP033" in {f.rule for f in lint_appup_file(str(src))}
    assert "OTP021" not in {f.rule for f in lint_appup_file(str(src))}  # regex keys pair up


@pytest.mark.skipif(not shutil.which("erl"), reason="needs erl (erlang-base) to ask systools_rc itself")
def test_the_refused_vendored_file_is_refused_by_systools_too() -> None:
    """b.appup's remove_module: the linter's OTP010 is what OTP's systools_rc answers."""
    expr = ('{ok,[{_,[{_,Up}],_}]} = file:consult("' + str(FIXTURES / "rh/b-2.0/b.appup") + '"),'
            'io:format("~0p", [systools_rc:translate_scripts(up, [Up], [], [])]), halt().')
    out = subprocess.run(["erl", "-noshell", "-eval", expr], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.startswith("{error,systools_rc,{bad_instruction,{remove_module,b_lib"), out.stdout


INSTALLED = sorted(glob.glob("/usr/lib/erlang/lib/*/ebin/*.appup"))


@pytest.mark.skipif(not INSTALLED, reason="no Erlang/OTP installed under /usr/lib/erlang")
def test_no_false_error_on_installed_otp_appups() -> None:
    for path in INSTALLED:
        _expect(path, *_verdict(path, path))


_MIRROR_FILES = re.compile(r"lib/[^/]+/src/[^/]+\.appup\.src|lib/sasl/test/[^/]+_SUITE_data/.+\.appup")


def _mirror() -> tuple[list[str], str] | None:
    git_dir = os.environ.get("HARNESS_OTP_GIT")
    if not git_dir or not shutil.which("git"):
        return None
    out = subprocess.run(["git", "-C", git_dir, "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True,
                         text=True, timeout=120, check=True).stdout.splitlines()
    return [p for p in out if _MIRROR_FILES.fullmatch(p)], git_dir


@pytest.mark.skipif(_mirror() is None, reason="set HARNESS_OTP_GIT to an erlang/otp clone to lint all of it")
def test_no_false_error_on_an_erlang_otp_clone(tmp_path: Path) -> None:
    found = _mirror()
    assert found is not None
    files, git_dir = found
    assert files, f"no appup(.src) under lib/ in {git_dir}"
    for name in files:
        data = subprocess.run(["git", "-C", git_dir, "show", f"HEAD:{name}"], capture_output=True,
                              timeout=60, check=True).stdout
        local = tmp_path / name
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
        _expect(name, *_verdict(str(local), name))
