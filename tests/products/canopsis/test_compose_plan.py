"""Planning the Compose installation's update (no Docker needed): steps, refusals, reference files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.engine.runner import plan_steps
from harness.errors import ConfigError, PlanError
from harness.plan.models import Plan, StandinsSpec
from harness.standins import planned_inventory
from harness.products.canopsis.standin import SOURCE


def _inv(tmp_path: Path, **options: str):  # type: ignore[no-untyped-def]
    spec = StandinsSpec(product="canopsis", backend="docker", version="4.4.0",  # type: ignore[arg-type]
                        install="compose", **options)
    return planned_inventory(spec, tmp_path, name="cps-plan")


def test_compose_plan_replaces_the_compose_file_then_runs_up(tmp_path: Path) -> None:
    steps = plan_steps(Plan(procedure="canopsis-update", params={"to": "4.6.1"}), _inv(tmp_path))
    ids = [s.id.split("@")[0] for s in steps]
    assert ids == ["broadcast", "release-note-4.4.1", "release-note-4.5.0", "release-note-4.5.1",
                   "release-note-4.5.2", "release-note-4.6.0", "release-note-4.6.1", "compose-files", "compose-up",
                   "verify"]
    up = steps[-2]
    assert up.args["flags"] == ["-migrate-postgres=true"] and up.gate is not None


def test_every_reference_compose_file_names_its_own_version() -> None:
    files = sorted((SOURCE / "compose").glob("*/docker-compose.yml"))
    assert [f.parent.name for f in files] == ["4.4.0", "4.4.1", "4.5.0", "4.5.1", "4.5.2", "4.6.0", "4.6.1"]
    for f in files:
        text = f.read_text()
        assert f'CANOPSIS_VERSION: "{f.parent.name}"' in text and "upgrade-harness.run: ${CPS_RUN}" in text
        assert "127.0.0.1:${CPS_API_PORT}:8082" in text, "published on loopback only"


def test_target_without_a_reference_compose_file_is_refused(tmp_path: Path) -> None:
    inv = _inv(tmp_path)
    ref = tmp_path / "reference"
    shutil.copytree(SOURCE / "compose", ref)
    shutil.rmtree(ref / "4.6.1")
    inv = inv.model_copy(update={"facts": {**inv.facts, "compose_reference": str(ref)}})
    with pytest.raises(PlanError, match="no reference compose file for Canopsis 4.6.1"):
        plan_steps(Plan(procedure="canopsis-update", params={"to": "4.6.1"}), inv)


@pytest.mark.parametrize(("backend", "options", "field"), [
    ("process", {"install": "compose"}, "standins.backend"),
    ("docker", {"install": "compose", "edition": "cat"}, "standins.options.edition"),
])
def test_compose_needs_docker_and_community(tmp_path: Path, backend: str, options: dict[str, str],
                                            field: str) -> None:
    spec = StandinsSpec(product="canopsis", backend=backend, version="4.4.0", **options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as exc:
        planned_inventory(spec, tmp_path, name="cps-plan")
    assert exc.value.field == field
