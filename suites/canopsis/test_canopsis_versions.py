"""Version pairs → the planned path of release notes, or a refusal (pure planning: no stand-in runs)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import resources
from harness.engine.runner import plan_steps
from harness.errors import PlanError
from harness.plan.models import Host, Inventory, Plan

REPO = resources.containers("canopsis") / "repo"


def inventory(repo: Path = REPO, version: str = "4.4.0") -> Inventory:
    return Inventory(environment="cps-plan", product="canopsis", hosts=[Host(name="node", install_dir="/opt/canopsis")],
                     components=[], facts={"repository": str(repo), "node_repository": "/srv/repo", "version": version})


def notes(frm: str, to: str, repo: Path = REPO, guides: list[str] | None = None) -> list[str]:
    params = {"from": frm, "to": to, "guides_followed": guides or []}
    steps = plan_steps(Plan(procedure="canopsis-update", params=params), inventory(repo))
    return [s.args["version"] for s in steps if s.action == "canopsis.release_note"]


# the stand-in repository's release notes that mandate a migration guide, as upstream's do
GUIDES = {v: f"migration-{v}" for v in ("4.4.0", "4.5.0", "4.6.0", "22.10.0", "23.04.0", "23.10.0", "24.04.0")}


@pytest.mark.parametrize(("frm", "to", "expected"), [
    pytest.param("4.5.0", "4.5.2", ["4.5.1", "4.5.2"], id="same-minor"),
    pytest.param("4.5.2", "4.6.0", ["4.6.0"], id="intermediate"),
    pytest.param("4.4.0", "4.6.1", ["4.4.1", "4.5.0", "4.5.1", "4.5.2", "4.6.0", "4.6.1"], id="several-releases"),
    pytest.param("22.10.0", "24.04.0", ["22.10.1", "23.04.0", "23.10.0", "23.10.1", "24.04.0"], id="yymm-several"),
    pytest.param("23.10.0", "23.10.1", ["23.10.1"], id="yymm-minor"),
    pytest.param("4.6.1", "4.6.1", [], id="target-is-installed"),
])
def test_path(frm: str, to: str, expected: list[str]) -> None:
    assert notes(frm, to, guides=[GUIDES[v] for v in expected if v in GUIDES]) == expected


@pytest.mark.parametrize(("frm", "to", "missing"), [
    pytest.param("4.4.0", "4.6.1", "4.5.0", id="semver"),
    pytest.param("22.10.0", "24.04.0", "23.04.0", id="yymm"),
])
def test_an_update_across_a_mandated_migration_guide_is_refused_where_the_note_says_so(
        frm: str, to: str, missing: str) -> None:
    with pytest.raises(PlanError) as exc:
        notes(frm, to)
    e = exc.value
    assert f"release note {missing} mandates the migration guide migration-{missing}" in str(e)
    assert e.file == str(REPO / missing / "release-note.toml") and e.field == "params.guides_followed"
    assert e.line is not None and "[migration_guide]" in (REPO / missing / "release-note.toml").read_text() \
        .splitlines()[e.line - 1]
    assert f'"migration-{missing}"' in (e.hint or "") and f"migration-{missing}.md" in (e.hint or "")


def test_each_guide_on_the_path_must_be_named_and_a_name_off_the_path_is_a_typo() -> None:
    with pytest.raises(PlanError, match=r"migration guide migration-4\.6\.0"):  # the second one still missing
        notes("4.4.0", "4.6.1", guides=["migration-4.5.0"])
    with pytest.raises(PlanError, match=r"names migration-4\.5\.O") as exc:
        notes("4.4.0", "4.6.1", guides=["migration-4.5.0", "migration-4.6.0", "migration-4.5.O"])
    assert exc.value.field == "params.guides_followed" and "migration-4.5.0, migration-4.6.0" in (exc.value.hint or "")
    assert notes("4.5.0", "4.5.2") == ["4.5.1", "4.5.2"]  # no guide on the path: nothing to state


@pytest.mark.parametrize(("frm", "to", "message"), [
    pytest.param("4.6.1", "22.10.0", "crosses a major version", id="major-4-to-yymm"),
    pytest.param("3.48.0", "4.4.0", "crosses a major version", id="major-3-to-4"),
    pytest.param("4.6.0", "4.5.2", "downgrade", id="downgrade-semver"),
    pytest.param("24.04.0", "23.10.1", "downgrade", id="downgrade-yymm"),
    pytest.param("4.4.0", "4.7.0", "not in the repository", id="unknown-target"),
    pytest.param("4.4.7", "4.6.0", "not in the repository", id="unknown-installed"),
    pytest.param("4.4.0", "latest", "not a Canopsis version", id="not-a-version"),
])
def test_refused(frm: str, to: str, message: str) -> None:
    with pytest.raises(PlanError, match=message) as exc:
        notes(frm, to)
    assert exc.value.field == "params.to" and exc.value.hint


@pytest.mark.parametrize(("frm", "to"), [
    pytest.param("4.6.1", "22.10.0", id="4-to-yymm"),
    pytest.param("3.48.0", "4.4.0", id="3-to-4"),
])
def test_a_major_jump_is_refused_even_with_every_migration_guide_on_its_path_followed(frm: str, to: str) -> None:
    """The regular procedure does not cross a major (seeds/002), even when the plan says the guide of the one
    release note on the way (the new major's first) was followed: planning refuses, before any step exists."""
    guides = [GUIDES[to]]
    with pytest.raises(PlanError, match="crosses a major version") as exc:
        notes(frm, to, guides=guides)
    assert exc.value.field == "params.to" and "migration guide" in (exc.value.hint or "")


def test_release_note_steps_become_step_args_in_order() -> None:
    steps = plan_steps(Plan(procedure="canopsis-update", params={"from": "4.4.1", "to": "4.5.0",
                                                                 "guides_followed": ["migration-4.5.0"]}), inventory())
    note = next(s for s in steps if s.id == "release-note-4.5.0@node")
    assert [x["kind"] for x in note.args["steps"]] == ["migration", "config", "reconfigure-flag"]
    assert next(s for s in steps if s.id == "reconfigure@node").args["flags"] == ["-migrate-postgres=true"]


@pytest.mark.parametrize("damage", ["missing", "malformed", "wrong-kind"])
def test_bad_release_note_is_refused_naming_the_file(damage: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo)
    note = repo / "4.5.1" / "release-note.toml"
    if damage == "missing":
        note.unlink()
    elif damage == "malformed":
        note.write_text('version = "4.5.1"\n[[steps]\nkind = "migration"\n')
    else:
        note.write_text('version = "4.5.1"\n[[steps]]\nkind = "reboot"\n')
    with pytest.raises(PlanError) as exc:
        notes("4.5.0", "4.5.2", repo)
    assert str(note) in str(exc.value) and "Hint:" in str(exc.value)
    if damage == "malformed":
        assert exc.value.line == 2


def test_harness_run_refuses_a_major_jump_with_exit_4_before_starting_anything(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"procedure": "canopsis-update",
                                    "standins": {"product": "canopsis", "version": "4.6.1"},
                                    "params": {"to": "23.04.0"}}))
    res = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(plan)], capture_output=True, check=False,
                         text=True,
                         cwd=tmp_path, timeout=120, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin",
                                                         "HARNESS_STANDINS_DIR": str(tmp_path / "s")})
    out = " ".join((res.stdout + res.stderr).split())
    assert res.returncode == 4, out
    assert "crosses a major version" in out and "params.to" in out
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir()), "no stand-in was started"
