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
