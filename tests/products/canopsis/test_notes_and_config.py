"""Release-note loading and canopsis.toml edits (pure file work on tmp dirs)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness import resources
from harness.errors import PlanError
from harness.products.canopsis import config, notes

REPO = resources.containers("canopsis") / "repo"


def test_every_shipped_release_note_loads_and_has_its_human_text() -> None:
    for v in notes.versions(REPO):
        note = notes.load(REPO, v)
        assert note.version == v
        assert (REPO / v / "release-note.md").read_text().startswith(f"# Canopsis {v}")
    kinds = {s.kind for v in notes.versions(REPO) for s in notes.load(REPO, v).steps}
    assert kinds == {"config", "migration", "reconfigure-flag"}


def test_version_mismatch_and_missing_migration_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "4.5.1").mkdir()
    (tmp_path / "4.5.1" / "release-note.toml").write_text('version = "4.5.0"\n')
    with pytest.raises(PlanError, match="says version") as exc:
        notes.load(tmp_path, "4.5.1")
    assert exc.value.file and exc.value.file.endswith("4.5.1/release-note.toml")
    (tmp_path / "4.5.1" / "release-note.toml").write_text(
        'version = "4.5.1"\n[[steps]]\nkind = "migration"\nscript = "x.json"\n')
    with pytest.raises(PlanError, match=r"migration x\.json is missing"):
        notes.load(tmp_path, "4.5.1")


TOML = """# my settings
[Canopsis.global]
PrefetchSize = 0  # keep

[Canopsis.api]
TokenSigningMethod = "HS256"
"""


def test_add_key_keeps_comments_and_is_idempotent() -> None:
    out = config.add_key(TOML, "Canopsis.global", "PrefetchCount", 10000)
    assert "# my settings" in out and "PrefetchSize = 0  # keep" in out
    assert tomllib.loads(out)["Canopsis"]["global"]["PrefetchCount"] == 10000
    assert config.has_key(out, "Canopsis.global", "PrefetchCount", 10000)
    assert config.add_key(out, "Canopsis.global", "PrefetchCount", 10000) == out


def test_add_key_creates_a_missing_table() -> None:
    out = config.add_key(TOML, "Canopsis.metrics", "Enabled", True)
    assert tomllib.loads(out)["Canopsis"]["metrics"] == {"Enabled": True}


def test_check_names_file_and_line() -> None:
    err = config.check("[Canopsis.global]\nPrefetchCount = \n", "/opt/canopsis/etc/canopsis.toml")
    assert err and err.startswith("/opt/canopsis/etc/canopsis.toml:2:") and "Hint:" in err
    assert config.check(TOML, "x") is None
