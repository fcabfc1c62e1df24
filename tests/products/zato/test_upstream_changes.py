"""Stand-in variants: edits of one upstream revision (how product mutants ship other code). Git only, no processes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.products.zato.standin import STANDIN
from harness.products.zato.standin import upstream as up


def _marker(work: Path) -> None:
    up.edit(work / "update.sh", "set -euo pipefail\n", "set -euo pipefail\n# variant\n")


def _show(repo: Path, tag: str, path: str) -> str:
    return subprocess.run(["git", f"--git-dir={repo}", "show", f"{tag}:{path}"], check=True, capture_output=True,
                          text=True).stdout


def test_an_edit_of_a_revision_changes_it_and_the_later_ones_only(tmp_path: Path) -> None:
    bare = up.build_upstream(tmp_path / "variant", {up.UPDATE: _marker})
    assert [("# variant" in _show(bare, t, "update.sh")) for t in up.TAGS] == [False, True, True]
    assert "apispec" in _show(bare, up.UPDATE, "code/zato_standin/internal.py")  # the revision's own change stays


def test_a_variant_is_cached_apart_from_the_shipped_upstream() -> None:
    assert up._app_digest({up.UPDATE: _marker}) != up._app_digest() == up._app_digest(STANDIN.upstream_changes())


def test_an_edit_of_an_unknown_revision_or_a_missing_anchor_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown revisions \['3.9.9'\]"):
        up.build_upstream(tmp_path / "a", {"3.9.9": _marker})
    with pytest.raises(RuntimeError, match="anchor 'nowhere' not found"):
        up.build_upstream(tmp_path / "b", {up.UPDATE: lambda work: up.edit(work / "VERSION", "nowhere", "")})


def _product_mutants() -> list[tuple[str, str]]:
    from harness import mutants, resources

    root = resources.containers("zato").parents[1]  # the checkout (suites/ beside containers/)
    return [(str(path), m.standin) for path in mutants.find_catalogues(root / "suites", "zato")
            for rule in mutants.load_catalogue(path).rules for m in rule.mutants if m.standin]


@pytest.mark.parametrize(("catalogue", "standin"), _product_mutants())
def test_every_zato_product_mutant_still_applies_to_the_standin_app(catalogue: str, standin: str,
                                                                    tmp_path: Path) -> None:
    """A product mutant edits the stand-in app's source at anchors; an edit of the app that moves one would
    otherwise surface only when the mutant's guards run (minutes into CI), as an error."""
    import importlib

    module, _, attr = standin.partition(":")
    variant = getattr(importlib.import_module(module), attr)
    changes = variant.upstream_changes()
    assert changes, f"{standin} changes no upstream revision"
    up.build_upstream(tmp_path / "variant", changes)  # every anchor found (else RuntimeError names it)
