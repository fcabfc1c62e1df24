"""Planning the Compose installation's update (no Docker needed): steps, refusals, reference files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.engine.runner import plan_steps
from harness.errors import ConfigError, PlanError
from harness.plan.models import Inventory, Plan, StandinsSpec
from harness.products.canopsis.standin import SOURCE
from harness.standins import planned_inventory


def _inv(tmp_path: Path, **options: str) -> Inventory:
    spec = StandinsSpec.model_validate({"product": "canopsis", "backend": "process", "version": "4.4.0",
                                        "install": "compose", **options})
    return planned_inventory(spec, tmp_path, name="cps-plan")


def test_compose_plan_replaces_the_compose_file_then_runs_up(tmp_path: Path) -> None:
    steps = plan_steps(Plan(procedure="canopsis-update", params={
        "to": "4.6.1", "guides_followed": ["migration-4.5.0", "migration-4.6.0"]}), _inv(tmp_path))
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
    with pytest.raises(PlanError, match=r"no reference compose file for Canopsis 4\.6\.1"):
        plan_steps(Plan(procedure="canopsis-update", params={"to": "4.6.1"}), inv)


def test_compose_is_community_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        _inv(tmp_path, edition="cat")
    assert exc.value.field == "standins.edition" and "install: packages" in str(exc.value)


def test_the_project_lives_on_the_node_host_that_runs_the_docker_cli(tmp_path: Path) -> None:
    """One host, ``node``: the project directory is its install dir, every program of the project runs in
    a service (node commands by ``docker-compose exec``), the releases' files are the controller's."""
    inv = _inv(tmp_path)
    assert [h.name for h in inv.hosts] == ["node"] and inv.hosts[0].transport == "local"
    assert inv.facts["compose_dir"] == inv.hosts[0].install_dir == str(tmp_path / "hosts/node/opt/canopsis-compose")
    assert {c.name: c.host for c in inv.components} == {"canopsis": "node", "rabbitmq": "node", "api": "node"}
    assert inv.facts["node_repository"] == "/srv/canopsis-repo"  # the services' view of the repository
    assert inv.facts["compose_reference"] == str(SOURCE / "compose")  # planning: the shipped files
