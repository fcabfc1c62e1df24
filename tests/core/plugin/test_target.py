"""``--harness-target``: the suites' matrix becomes one case, ``target`` (no stand-ins), and tests marked
``destructive`` are skipped with the reason unless ``--harness-destructive``."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SUITE = '''
import pytest
from harness.pytest_plugin.backends import backend_params, environment, release

def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", backend_params(metafunc.config, (1, 3), ssh=True))

def test_case(case, request, tmp_path):
    backend, size = case
    assert backend == "target" and size == 0
    inv = environment(request.config, "zato", backend, tmp_path)
    assert inv.environment == "staging" and inv.backend == "inventory"
    release(inv)  # the user's environment stays as it is

@pytest.mark.destructive
def test_breaks_things():
    pass
'''

INV = """environment: staging
product: zato
hosts: [{name: vm1, transport: "ssh://ops@127.0.0.1:2222", install_dir: /opt/zato/current}]
components: []
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider -p no:benchmark\n")
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "inv.yaml").write_text(INV)
    return pytester


def test_target_runs_one_case_and_skips_destructive_with_the_reason(suite: pytest.Pytester) -> None:
    res = suite.runpytest("--harness-target", "inv.yaml", "-rs", "-p", "no:xdist")
    res.assert_outcomes(passed=1, skipped=1)
    res.stdout.fnmatch_lines(["*breaks things on purpose*--harness-destructive*"])


def test_destructive_runs_with_the_flag(suite: pytest.Pytester) -> None:
    res = suite.runpytest("--harness-target", "inv.yaml", "--harness-destructive", "-p", "no:xdist")
    res.assert_outcomes(passed=2)


def test_without_target_the_matrix_has_docker_ssh_at_the_largest_size(suite: pytest.Pytester) -> None:
    res = suite.runpytest("--collect-only", "-q", "-p", "no:xdist")
    ids = [line for line in res.stdout.lines if "test_case[" in line]
    assert any("docker-ssh-3" in i for i in ids) and not any("docker-ssh-1" in i for i in ids), ids
    assert any("process-1" in i for i in ids) and any("docker-3" in i for i in ids)
