"""The rule catalogue format and how a mutant is applied (the harness's own logic; the mutants of real
procedures are judged by suites/test_mutants.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import mutants, registry
from harness.errors import ConfigError
from harness.registry import Product

CATALOGUE = """\
product: acme
for_procedure: acme-update
rules:
  - id: one-at-a-time
    source: seeds/x
    quote: "one by one"
    guarded_by: [tests/x.py::test_y]
    mutants:
      - name: all-at-once
        kind: executor
        breaks: everything at once
        procedures: {acme-update: "tests.core.test_mutants:MUTANT"}
"""
MUTANT = object()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules-acme-update.yaml"
    path.write_text(text)
    return path


def installed(name: str) -> Product:
    assert name == "acme"
    return Product("acme", "a test product", roles=("node",), procedures={"acme-update": "acme:REAL"},
                   gates={"acme.ready": "acme:ready"}, standin="acme:STANDIN")


def test_an_overlay_replaces_only_what_the_mutant_names(tmp_path: Path) -> None:
    over = mutants.overlay(write(tmp_path, CATALOGUE), "all-at-once", installed)
    assert over.procedures == {"acme-update": "tests.core.test_mutants:MUTANT"}
    assert over.gates == {"acme.ready": "acme:ready"} and over.standin == "acme:STANDIN"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("        procedures: {acme-update: \"tests.core.test_mutants:MUTANT\"}\n", ""),
     "must replace a procedure"),
    (lambda t: t.replace("kind: executor", "kind: product"), "replaces the stand-in"),
    (lambda t: t + t[t.index("  - id:"):], "duplicate rule id"),
    (lambda t: t.replace("guarded_by: [tests/x.py::test_y]", "guarded_by: []"), "guarded_by"),
    (lambda t: t.replace("    quote: \"one by one\"\n", ""), "quote"),
], ids=["replaces-nothing", "product-without-standin", "duplicate-rule", "unguarded", "no-quote"])
def test_a_bad_catalogue_is_refused_with_its_file_and_field(tmp_path: Path, edit: object, message: str) -> None:
    path = write(tmp_path, edit(CATALOGUE))  # type: ignore[operator]
    with pytest.raises(ConfigError) as err:
        mutants.load_catalogue(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_an_unknown_mutant_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="known: all-at-once"):
        mutants.overlay(write(tmp_path, CATALOGUE), "nope", installed)


@pytest.mark.parametrize("value", ["no-separator", "::name", "file::"])
def test_a_malformed_environment_variable_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(mutants.ENV, value)
    with pytest.raises(ConfigError, match="CATALOGUE::NAME"):
        mutants.from_env(installed)


def test_the_registry_applies_the_mutant_the_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parents[2]
    catalogue = root / "suites/zato/rules-zato-update.yaml"
    monkeypatch.setenv(mutants.ENV, f"{catalogue}::servers-at-once")
    registry.forget_mutant()
    try:
        from suites.zato.mutants import SERVERS_AT_ONCE

        assert registry.procedure("zato-update") is SERVERS_AT_ONCE
        assert registry.procedure("zato-restart") is not SERVERS_AT_ONCE
    finally:
        monkeypatch.delenv(mutants.ENV)
        registry.forget_mutant()
    assert registry.procedure("zato-update") is not SERVERS_AT_ONCE


GUARDED = """\
import pytest


@pytest.mark.parametrize("size", [1, 3])
def test_order(size):
    pass
"""


@pytest.mark.parametrize(("guards", "stale"), [
    # with the whole test guarded too, pytest itself runs the stale id's test and exits 0
    ({"whole": "test_guarded.py::test_order", "narrowed": "test_guarded.py::test_order[9]"},
     "test_guarded.py::test_order[9]"),
    # alone, pytest exits 4 (not found) and names the test without its parameter
    ({"narrowed": "test_guarded.py::test_order[9]", "other": "test_guarded.py::test_order[1]"},
     "test_guarded.py::test_order[9]"),
    ({"misspelt": "test_guarded.py::test_ordr"}, "test_guarded.py::test_ordr"),
], ids=["beside-the-whole-test", "not-found", "misspelt"])
def test_a_guard_that_selects_no_test_fails_the_baseline_naming_catalogue_rule_and_id(
        tmp_path: Path, guards: dict[str, str], stale: str) -> None:
    (tmp_path / "test_guarded.py").write_text(GUARDED)
    rule = CATALOGUE[CATALOGUE.index("  - id:"):]
    rules = "".join(rule.replace("id: one-at-a-time", f"id: {rid}").replace("name: all-at-once", f"name: m-{rid}")
                    .replace("[tests/x.py::test_y]", f"[\"{guard}\"]") for rid, guard in guards.items())
    path = write(tmp_path, CATALOGUE[:CATALOGUE.index("  - id:")] + rules)
    baselines, results = mutants.run([path], tmp_path)
    (base,) = baselines
    assert base.verdict == "error"
    owner = next(rid for rid, guard in guards.items() if guard == stale)
    assert f"{path}: rule {owner}: guard {stale} selects no test" in base.detail
    assert [g for g in guards.values() if f"guard {g} selects" in base.detail] == [stale], "only the stale one"
    assert {r.verdict for r in results} == {"error"} and all("not run" in r.detail for r in results)


def test_a_narrowed_guard_that_selects_its_test_passes_the_baseline(tmp_path: Path) -> None:
    (tmp_path / "test_guarded.py").write_text(GUARDED)
    path = write(tmp_path, CATALOGUE.replace("[tests/x.py::test_y]", '["test_guarded.py::test_order[3]"]'))
    (base,), _ = mutants.jobs([path])
    result = mutants.run_job(base, tmp_path, (), 120)
    assert result.verdict == "survived", result.detail


@pytest.mark.parametrize(("guard", "selects"), [
    ("s/test_m.py", True), ("s/test_m.py::test_a", True), ("s/test_m.py::test_a[x::1]", True),
    ("s/test_m.py::TestK", True), ("s/test_m.py::TestK::test_b[2]", True),
    ("s/test_m.py::test_a[x]", False), ("s/test_m.py::test_", False), ("s/test_m.py::TestK::test_b[3]", False),
    ("s/test_n.py", False), ("s/test_m.py::TestK::test_a", False),
])
def test_a_guard_selects_the_junit_cases_of_its_node_id(guard: str, selects: bool) -> None:
    job = mutants.Job(Path("rules-acme-update.yaml"), "(all)", (guard,), None)
    cases = [("s.test_m", "test_a[x::1]", False), ("s.test_m.TestK", "test_b[2]", True)]
    assert mutants.unselected(job, cases, 0, lambda g: True) == ([] if selects else [guard])
    assert mutants.unselected(job, [], 4, lambda g: selects) == ([] if selects else [guard])
    assert mutants.unselected(job, [], 1, lambda g: False) == [], "after a failure, -x leaves guards unrun"


def test_the_baseline_is_one_job_per_guard_module_and_every_guard_in_one(tmp_path: Path) -> None:
    two = CATALOGUE.replace("[tests/x.py::test_y]", "[tests/x.py::test_y, tests/z.py::test_w, tests/x.py::test_v]")
    baselines, (mutant,) = mutants.jobs([write(tmp_path, two)])
    assert [b.guards for b in baselines] == [("tests/x.py::test_y", "tests/x.py::test_v"), ("tests/z.py::test_w",)]
    assert all(b.mutant is None for b in baselines)
    assert mutant.guards == ("tests/x.py::test_y", "tests/z.py::test_w", "tests/x.py::test_v")
