"""The project's own pytest configuration, run in a subprocess on small test files of its own:
a failing hypothesis property is reported (not an INTERNALERROR), a docker-backed test whose engine
cannot run is skipped on a developer's machine and FAILS under CI, and random order is available."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def project_ini(pytester: pytest.Pytester) -> None:
    """The project's own ``[tool.pytest.ini_options]`` (filterwarnings = error and its exceptions, addopts)."""
    opts = tomllib.loads(PYPROJECT.read_text())["tool"]["pytest"]["ini_options"]
    lines = ["[pytest]", f"addopts = {opts['addopts']}", "filterwarnings ="]
    lines += [f"    {f}" for f in opts["filterwarnings"]]
    pytester.makeini("\n".join(lines) + "\n")


def test_a_failing_hypothesis_property_is_reported_not_an_internal_error(pytester: pytest.Pytester) -> None:
    pytest.importorskip("hypothesis")
    project_ini(pytester)
    pytester.makepyfile(test_prop="""
        from hypothesis import given, strategies as st

        @given(st.integers())
        def test_below_five(x):
            assert x < 5

        def test_after():  # the session goes on after the failing property and runs this one
            assert sorted([3, 1, 2]) == [1, 2, 3]
    """)
    res = pytester.runpytest_subprocess("-p", "no:xdist")
    out = res.stdout.str() + res.stderr.str()
    assert "INTERNALERROR" not in out, out
    res.assert_outcomes(passed=1, failed=1)
    res.stdout.fnmatch_lines(["*Falsifying example: test_below_five(*", "*x=5*"])


DOCKER_TEST = """
    from harness.pytest_plugin.backends import skip_unless_backend_runs

    def test_needs_docker():
        skip_unless_backend_runs("docker")
"""


@pytest.mark.parametrize("ci", ["true", "1"])
def test_under_ci_an_engine_that_cannot_run_fails_the_test_saying_why(pytester: pytest.Pytester,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      ci: str) -> None:
    project_ini(pytester)
    pytester.makepyfile(test_docker=DOCKER_TEST)
    monkeypatch.setenv("HARNESS_SKIP_DOCKER", "1")  # no engine, whatever this machine has
    monkeypatch.setenv("CI", ci)
    res = pytester.runpytest_subprocess("-p", "no:xdist", "-rfs")
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(["*docker backend unavailable: HARNESS_SKIP_DOCKER=1*",
                              "*docker-backed tests are required in CI*"])


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_outside_ci_an_engine_that_cannot_run_skips_the_test_with_the_reason(pytester: pytest.Pytester,
                                                                             monkeypatch: pytest.MonkeyPatch,
                                                                             ci: str | None) -> None:
    project_ini(pytester)
    pytester.makepyfile(test_docker=DOCKER_TEST)
    monkeypatch.setenv("HARNESS_SKIP_DOCKER", "1")
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    res = pytester.runpytest_subprocess("-p", "no:xdist", "-rs")
    res.assert_outcomes(skipped=1)
    res.stdout.fnmatch_lines(["*docker backend unavailable: HARNESS_SKIP_DOCKER=1*"])


def test_random_order_is_off_by_default_and_on_with_p_randomly(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_randomly")
    project_ini(pytester)
    pytester.makepyfile(test_order="\n".join(f"def test_{i:02d}():\n    pass\n" for i in range(30)))
    default = pytester.runpytest_subprocess("-p", "no:xdist", "-v")
    names = [ln.split("::")[1].split()[0] for ln in default.stdout.lines if "::test_" in ln and "PASSED" in ln]
    assert names == [f"test_{i:02d}" for i in range(30)]
    shuffled = pytester.runpytest_subprocess("-p", "no:xdist", "-v", "-p", "randomly", "--randomly-seed=1234")
    shuffled.stdout.fnmatch_lines(["*Using --randomly-seed=*"])
    order = [ln.split("::")[1].split()[0] for ln in shuffled.stdout.lines if "::test_" in ln and "PASSED" in ln]
    assert sorted(order) == names and order != names  # 30! orders: the file order by chance is out of reach
